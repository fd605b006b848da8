# Two commands: `make run` serves the API locally on embedded defaults, `make test` runs the tests.
# Both create and fill the local virtualenv (.venv) when it is missing or out of date.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test venv clean bench fuzz

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(PY) -m shared.cli serve

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) benchmarks/run.py

fuzz: $(STAMP)
	FUZZ_EXAMPLES=2000 $(PY) -m pytest tests/quality/test_fuzz_api.py -q -p no:timeout

clean:
	rm -rf $(VENV) .venv-checkov .data .pytest_cache
