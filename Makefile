# gitops-hive: `make demo` runs the product, `make test` checks it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_ROOT ?= $(CURDIR)/.demo/hive

.PHONY: demo test lint format deps system-deps bench bench-quick clean

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

test: $(STAMP) system-deps lint
	@$(BIN)/python scripts/debian_root.py
	@$(BIN)/python scripts/agent_image.py
	$(BIN)/pytest -n 2 --dist loadgroup -m 'not host'
	$(BIN)/pytest -m host
	$(MAKE) bench-quick

bench: $(STAMP)
	$(BIN)/python benchmarks/commit_to_pending.py
	$(BIN)/python benchmarks/approve_to_running.py
	$(BIN)/python benchmarks/crash_to_inbox.py
	$(BIN)/python benchmarks/recv_wakeup.py
	$(BIN)/python benchmarks/socket_flood.py
	$(BIN)/python benchmarks/render_diff.py
	$(BIN)/python benchmarks/huge_proposal.py
	$(BIN)/python benchmarks/hostile_repo.py
	$(BIN)/python benchmarks/stats.py
	$(BIN)/python benchmarks/terminal_echo.py
	$(BIN)/python benchmarks/push_to_draft.py
	$(BIN)/python benchmarks/draft_to_manager.py
	$(BIN)/python benchmarks/image_build.py
	$(BIN)/python benchmarks/history_json.py
	$(BIN)/python benchmarks/log_tail.py
	$(BIN)/python benchmarks/scale.py

# Every benchmark at a small size, about a minute: `make test` runs it, so none can rot.
bench-quick: $(STAMP)
	$(BIN)/python benchmarks/commit_to_pending.py --quick
	$(BIN)/python benchmarks/approve_to_running.py --quick
	$(BIN)/python benchmarks/crash_to_inbox.py --quick
	$(BIN)/python benchmarks/recv_wakeup.py --quick
	$(BIN)/python benchmarks/socket_flood.py --quick
	$(BIN)/python benchmarks/render_diff.py --quick
	$(BIN)/python benchmarks/huge_proposal.py --quick
	$(BIN)/python benchmarks/hostile_repo.py --quick
	$(BIN)/python benchmarks/stats.py --quick
	$(BIN)/python benchmarks/terminal_echo.py --quick
	$(BIN)/python benchmarks/scale.py --quick
	$(BIN)/python benchmarks/push_to_draft.py --quick
	$(BIN)/python benchmarks/draft_to_manager.py --quick
	$(BIN)/python benchmarks/image_build.py --quick
	$(BIN)/python benchmarks/history_json.py --quick
	$(BIN)/python benchmarks/log_tail.py --quick

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
