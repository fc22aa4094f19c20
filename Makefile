# Entry points of bfstats-backfill (SPEC section 8). Everything runs from the repo's own .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ADAPTER_FILES := $(shell find adapters/dbt-chdb -name '*.py' -o -name '*.toml' -o -name '*.yml' -o -name '*.sql' 2>/dev/null)
DEMO_SCALE ?= 0.02
# pytest workers (pytest-xdist); each takes whole test modules (--dist loadfile). TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

.PHONY: setup demo test test-quick test-server lint format lock clean ui-venv ui-check

setup: $(STAMP) profiles.yml

$(STAMP): pyproject.toml requirements.lock $(ADAPTER_FILES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	# The adapter is a non-editable install: dbt discovers adapters through the dbt.adapters namespace.
	$(BIN)/python -m pip install --quiet --force-reinstall --no-deps ./adapters/dbt-chdb
	touch $(STAMP)

# dbt finds profiles.yml in the repo root; the example is the default (embedded engine).
profiles.yml:
	cp profiles.yml.example profiles.yml

demo: setup
	$(BIN)/bfstats generate --scale $(DEMO_SCALE) --seed 42 --replace
	$(BIN)/bfstats backfill all --force

lint: setup
	$(BIN)/ruff check flows tests benchmarks adapters tools
	$(BIN)/ruff format --check flows tests benchmarks adapters tools
	$(BIN)/sqlfluff lint models macros tests/dbt sqlite_checks/macros --processes 2

format: setup
	$(BIN)/ruff format flows tests benchmarks adapters tools
	$(BIN)/ruff check --fix flows tests benchmarks adapters tools
	$(BIN)/sqlfluff fix models macros tests/dbt sqlite_checks/macros --processes 2

test: lint
	$(PYTEST) --durations=10

# The inner loop: ruff (under a second) and every test not marked slow (no Prefect server, no
# subprocess, no whole flow, no dbt adapter suite). sqlfluff (about 20 s) stays in `make lint`.
test-quick: setup
	$(BIN)/ruff check flows tests benchmarks adapters tools
	$(BIN)/ruff format --check flows tests benchmarks adapters tools
	$(PYTEST) -m "not slow"

# The server-path tests (target prod) against a real ClickHouse server given by BFSTATS_CH_HOST,
# _PORT, _USER, _PASSWORD, _SECURE instead of the test-only stand-in (README: "Running against a
# ClickHouse server"). They replace the raw tables in its database `default` and build into
# `bfstats_test`: use a scratch server.
test-server: setup
	@test -n "$$BFSTATS_CH_HOST" || { echo "make test-server: set BFSTATS_CH_HOST (and BFSTATS_CH_PORT, _USER, _PASSWORD, _SECURE)" >&2; exit 2; }
	BFSTATS_TEST_SERVER=1 $(BIN)/pytest tests/test_server_source.py tests/test_server_path.py

# Keeps the file's comment header; dbt-chdb is installed from ./adapters, not from a registry.
lock:
	grep '^#' requirements.lock > requirements.lock.new
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^dbt-chdb' >> requirements.lock.new
	mv requirements.lock.new requirements.lock

# The browser check of the Prefect UI (not part of `make test`): Playwright in its own venv,
# driving Debian's chromium (Playwright's own browser download is never used).
UI_VENV := .venv-ui
UI ?= http://127.0.0.1:4200
UI_OUT ?= ui-check

ui-venv: $(UI_VENV)/.installed

$(UI_VENV)/.installed: tools/requirements-ui.txt
	test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)
	test -x $(UI_VENV)/bin/python || $(PYTHON) -m venv $(UI_VENV)
	$(UI_VENV)/bin/python -m pip install --quiet -r tools/requirements-ui.txt
	touch $@

# make ui-check UI=http://127.0.0.1:4300 UI_CHECK_ARGS='--flow-run ID --expect-schedule all="0 4 * * *"'
ui-check: ui-venv
	$(UI_VENV)/bin/python tools/check_prefect_ui.py --ui $(UI) --out $(UI_OUT) $(UI_CHECK_ARGS)

clean:
	rm -rf target logs data $(VENV) $(UI_VENV)
