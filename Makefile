VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint fuzz install bench bench-large soak clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/freshness serve

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

# ruff with the settings of pyproject.toml (not a ruff found elsewhere on the machine), then mypy on the package.
lint: $(STAMP)
	$(VENV)/bin/ruff check freshness tests bench
	$(VENV)/bin/mypy freshness

# Schemathesis over every operation (tests/api/test_contract.py) with far more examples than `make test`
# runs, randomized rather than derandomized, and without the per-test timeout. More: make fuzz FUZZ_EXAMPLES=2000
FUZZ_EXAMPLES ?= 300
fuzz: $(STAMP)
	FRESHNESS_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FRESHNESS_FUZZ_RANDOM=1 $(PY) -m pytest -q -o timeout=0 \
		tests/api/test_contract.py $(PYTEST_ARGS)

# Benchmarks (bench/): the small corpus takes a few minutes, the large one much longer. The bench extra brings
# LangChain's indexing API, the peer that re-publishing is compared with (bench/peer.py).
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) -m bench --size small $(BENCH_ARGS)

bench-large: $(BENCH_STAMP)
	$(PY) -m bench --size large $(BENCH_ARGS)

# Soak (bench/soak.py): 16 clients for 60 s while sources change, a SIGKILL under load and a restart;
# exits 1 when an invariant fails. Shorter: make soak SOAK_ARGS="--seconds 20".
soak: $(STAMP)
	$(PY) -m bench.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) var
