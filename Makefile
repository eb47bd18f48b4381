# gitops-hive: `make demo` runs the product, `make test` checks it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_ROOT ?= $(CURDIR)/.demo/hive

.PHONY: demo test test-rest test-machine test-screen images lint format deps system-deps bench bench-quick clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

deps: $(STAMP)

# As root, install the Debian packages the tests use; otherwise say what is missing.
system-deps:
	@sh scripts/system-deps.sh

demo: $(STAMP)
	$(BIN)/python -m gitops_hive.demo --root $(DEMO_ROOT)

lint: $(STAMP)
	$(BIN)/ruff check gitops_hive tests benchmarks scripts
	$(BIN)/ruff format --check gitops_hive tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format gitops_hive tests benchmarks scripts
	$(BIN)/ruff check --fix gitops_hive tests benchmarks scripts

# Three steps, each two jobs at a time (one job's output printed whole when it ends): the tests
# not marked host while the container images build, then the two kinds of host tests, then
# every benchmark at a small size.
test: $(STAMP) system-deps lint
	$(MAKE) -j2 --output-sync=target test-rest images
	$(MAKE) -j2 --output-sync=target test-machine test-screen
	$(MAKE) -j2 --output-sync=target bench-quick

# Every test not marked host (tests/conftest.py marks them), on two workers, a file to each.
test-rest: $(STAMP)
	$(BIN)/pytest -p no:cacheprovider -n 2 --dist loadfile -m 'not host'

# The booted Debian the D-Bus tests use and the agents' base image (each built once, cached).
images: $(STAMP)
	@$(BIN)/python scripts/debian_root.py
	@$(BIN)/python scripts/agent_image.py

# The host tests: each kind one test at a time, beside the other.
test-machine: images
test-machine test-screen: test-%: $(STAMP)
	$(BIN)/pytest -p no:cacheprovider -m $*

# Every script in benchmarks/ (but the _helpers): `make bench` runs each at full size, one
# after the other.
BENCHMARKS := $(sort $(basename $(notdir $(filter-out benchmarks/_%,$(wildcard benchmarks/*.py)))))

bench: $(addprefix bench/,$(BENCHMARKS))

bench/%: $(STAMP)
	$(BIN)/python benchmarks/$*.py

# Every benchmark at a small size, so none can rot: `make test` runs it two at a time
# (`-j2`), each one's output kept together.
bench-quick: $(addprefix bench-quick/,$(BENCHMARKS))

bench-quick/%: $(STAMP)
	$(BIN)/python benchmarks/$*.py --quick

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
