# Two entry points for a fresh machine: `make repro` (the pipeline) and `make test` (the suite).
# Both create .venv and install the project into it first; nothing else is assumed.
PYTHON ?= python3
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: repro test test-fast lint browser

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

repro: $(VENV)/.installed
	dvc repro

# The browser test drives Debian's Chromium; install it when it is missing (needs root).
browser:
	@command -v chromium >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

lint: $(VENV)/.installed
	ruff check .
	ruff format --check .

# Development loop: everything but the end-to-end tests, in under two minutes.
test-fast: $(VENV)/.installed
	pytest -m "not slow"

# What CI runs: lint, the fast tier, then the slow tier (whole pipeline, browser, kill-and-resume).
test: $(VENV)/.installed lint browser
	pytest -m "not slow"
	pytest -m slow
