"""``python -m gateway.cli`` (the demo and the benchmarks start commands this way)."""
from gateway.cli import main

if __name__ == "__main__":
    main()
