"""Benchmarks of the gateway (``make bench``); figures land in ``benchmarks/RESULTS.md``."""
