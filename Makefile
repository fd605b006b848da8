# Two commands: `make run` serves the API locally on embedded defaults, `make test` runs the tests.
# Both create the local virtualenv (.venv) when it is missing and install what they need when
# it is missing or out of date: `run` only the runtime (requirements.txt), `test` the test
# toolchain too (requirements-dev.txt). A stamp per file set records what is installed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
PIP_INSTALL := $(PY) -m pip install --disable-pip-version-check

.PHONY: run test venv venv-dev standins clean bench fuzz chromium screenshots

$(PY):
	@echo ">> Creating the virtualenv $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip

$(RUNTIME_STAMP): requirements.txt | $(PY)
	@echo ">> Installing the runtime dependencies (requirements.txt) into $(VENV)."
	@echo ">> The first time this downloads the Google Cloud client libraries: about a minute."
	$(PIP_INSTALL) -r requirements.txt
	@touch $@

# requirements-dev.txt includes requirements.txt, so this stamp stands for both.
$(DEV_STAMP): requirements.txt requirements-dev.txt | $(PY)
	@echo ">> Installing the test toolchain (requirements-dev.txt, which includes requirements.txt) into $(VENV)."
	@echo ">> The first time this downloads pytest, schemathesis, the BigQuery emulator (bqemulator, duckdb,"
	@echo ">> numpy) and more, about 700 MB: a few minutes. \`make run\` alone never needs them."
	$(PIP_INSTALL) -r requirements-dev.txt
	@touch $@ $(RUNTIME_STAMP)

venv: $(RUNTIME_STAMP)

venv-dev: $(DEV_STAMP)

run: $(RUNTIME_STAMP)
	$(PY) -m shared.cli serve

test: $(DEV_STAMP) chromium
	$(PY) -m pytest

# The console's browser tests (tests/console) drive Debian's chromium package through Playwright,
# never a browser Playwright downloads. Installed once with apt-get (as root, else with sudo).
chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  echo ">> Installing Debian's chromium for the console's browser tests (apt-get; about a minute, once)."; \
	  if [ "$$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; \
	fi

# The console's screenshots in docs/screenshots (the README shows the overview), from the browser tests.
screenshots: $(DEV_STAMP) chromium
	CONSOLE_SCREENSHOTS=docs/screenshots $(PY) -m pytest tests/console -q

# The provider stand-ins the tests use, by hand (docs/providers.md); they live in tests/, hence the test toolchain.
standins: $(DEV_STAMP)
	$(PY) -m tests.support.standins --env-file .standins.env

bench: $(DEV_STAMP)
	$(PY) benchmarks/run.py

fuzz: $(DEV_STAMP)
	FUZZ_EXAMPLES=2000 $(PY) -m pytest tests/quality/test_fuzz_api.py -q -p no:timeout

clean:
	rm -rf $(VENV) .venv-checkov .node-typescript .node-axe .data .pytest_cache .standins.env
