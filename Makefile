# Two entry points for a fresh machine: `make repro` (the pipeline) and `make test` (the suite).
# Both create .venv and install the project into it first; nothing else is assumed.
PYTHON ?= python3.11
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: repro test browser

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

test: $(VENV)/.installed browser
	pytest
