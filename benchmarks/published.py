"""Other FHIR servers' published throughput, for RESULTS.md's per-vCPU comparison.

NOT measured by this suite: figures copied from the sources named, on their hardware and their
workloads, which differ from ours. They are here so the gateway's per-vCPU figures have a
rough context, not as targets. Update them only from a source, with its date.
"""
from __future__ import annotations

from dataclasses import dataclass

HEALTH_SAMURAI_ARTICLE = "https://www.health-samurai.io/articles/performance-at-scale-baseline"
HEALTH_SAMURAI_INFRASTRUCTURE = (
    "https://healthsamurai.github.io/fhir-server-performance-benchmark/infrastructure/")
HEALTH_SAMURAI_FIGURES = ("https://aftermontaigne.org/medical-form-builder/"
                          "open-source-benchmark-now-compares-4-fhir-servers-side-by-side/")
MEDPLUM_BLOG = "https://www.medplum.com/blog/medplum-performance-test-2026"


@dataclass(frozen=True)
class Published:
    server: str
    workload: str
    requests_per_second: float
    vcpus: float          # the CPUs the figure is divided by
    hardware: str
    sources: tuple[str, ...]
    note: str = ""

    @property
    def per_vcpu(self) -> float:
        return self.requests_per_second / self.vcpus


HARNESS = ("Health Samurai's open benchmark (github.com/HealthSamurai/"
           "fhir-server-performance-benchmark; Health Samurai makes Aidbox, one of the servers "
           "compared): one 64-core, 500 GB bare-metal host, Docker Compose, each server pinned "
           "to 8 vCPU, PostgreSQL 18 and the k6 load generator in containers of their own on "
           "the same host (not counted in the 8 vCPU), Synthea data (1,000 patients)")

PUBLISHED: tuple[Published, ...] = (
    Published(
        "HAPI FHIR JPA (hapiproject/hapi)", "CRUD on nine resource types, sustained load",
        3_058, 8, HARNESS + ".", (HEALTH_SAMURAI_ARTICLE, HEALTH_SAMURAI_FIGURES),
        "run of 2026-06-28/29; the article is the primary source, the CRUD figure as quoted "
        "by the second link (the article's own figure table was not in the text we could "
        "read)"),
    Published(
        "Medplum (medplum/medplum-server)", "CRUD on nine resource types, sustained load",
        1_420, 8, HARNESS + "; Medplum as 8 Node.js replicas (1 vCPU each per the second "
        "link, 2 vCPU each per the project's infrastructure page: then 16 vCPU and about 90 "
        "per vCPU).", (HEALTH_SAMURAI_ARTICLE, HEALTH_SAMURAI_FIGURES,
                       HEALTH_SAMURAI_INFRASTRUCTURE),
        "run of 2026-06-28/29, as for HAPI"),
    Published(
        "Medplum (its own test)", "authenticated read, write and search (scenario 4)",
        6_738.33, 60, "AWS Fargate, 15 server tasks x 4 vCPU (60 vCPU, divided by here); "
        "PostgreSQL 16.8 on r6gd.4xlarge (16 vCPU) and Redis on m4.2xlarge (8 vCPU) not "
        "counted; Grafana k6 hosted load generator elsewhere.", (MEDPLUM_BLOG,),
        "Medplum's own 2026 blog post"),
)
