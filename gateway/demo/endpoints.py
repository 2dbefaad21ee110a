"""The command line of the stand-in partner: serve one loopback FHIR partner endpoint until
Ctrl-C, as ``python -m gateway.demo.endpoints --name pcp --port 8091`` (``gateway demo``
starts one per demo partner that has a FHIR endpoint)."""
from __future__ import annotations

import argparse
import time

from gateway.demo.partner_server import BASE_PATH, ReceivingFhirServer


def _wait_for_interrupt() -> None:
    """Block until Ctrl-C."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def main(argv: list[str] | None = None) -> int:
    """Serve one partner endpoint until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m gateway.demo.endpoints",
                                     description="A loopback FHIR partner endpoint that "
                                                 "applies transaction Bundles.")
    parser.add_argument("--name", default="partner", help="shown on the summary page")
    parser.add_argument("--host", default="127.0.0.1", help="a loopback address")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--require-bearer", metavar="TOKEN", help="refuse other tokens")
    args = parser.parse_args(argv)
    try:
        server = ReceivingFhirServer(args.name, args.host, args.port,
                                     require_bearer=args.require_bearer, log_requests=True)
    except ValueError as exc:
        parser.error(str(exc))
    with server:
        print(f"{server.name}: FHIR base {server.base_url} "
              f"(summary at {server.base_url.removesuffix(BASE_PATH)}/); Ctrl-C stops",
              flush=True)
        _wait_for_interrupt()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
