# The two set-up commands (README): `make demo` and `make test`. `make bench` measures.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test bench lint fuzz definitions clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gateway demo

test: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# The API fuzz tests at full size: over 10,000 generated requests per database (SQLite, and
# GATEWAY_TEST_DATABASE_URL when set); 0 answers 5xx is the pass.
fuzz: $(STAMP)
	GATEWAY_FUZZ_EXAMPLES=2500 $(BIN)/pytest tests/fuzz

# ruff, and the import contracts of ARCHITECTURE.md (import-linter, pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check gateway tests benchmarks scripts
	$(BIN)/lint-imports

# Regenerate gateway/fhir/definitions/r4/ from HL7's R4 files (needs npm).
definitions: $(STAMP)
	$(BIN)/python scripts/generate_definitions.py

clean:
	rm -rf var build *.egg-info
