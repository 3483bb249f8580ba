# Two entry points for a fresh machine: `make repro` (the pipeline) and `make test` (the suite).
# Both create .venv and install the project into it first; nothing else is assumed.
PYTHON ?= python3
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: repro test test-fast lint browser lock

# requirements.lock pins every package but torch, with hashes. torch comes after it by its pin in
# pyproject.toml, without a hash: pip's find-links then take the CPU build where a machine has it
# on disk (PyPI's build of the same version is the CUDA one, several GB). The project goes in last,
# without dependencies and with the locked setuptools; pip check proves that nothing is missing.
LOCK := requirements.lock
TORCH := $(shell grep -o '"torch==[^"]*"' pyproject.toml | tr -d '"')

$(VENV)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(VENV)/bin/pip install --quiet '$(TORCH)'
	$(VENV)/bin/pip install --quiet --no-deps --no-build-isolation -e .
	$(VENV)/bin/pip check
	touch $@

# Refresh the lock after a change to pyproject.toml's dependencies: pins what changed and keeps
# every other pin; `make lock LOCK_FLAGS=--upgrade` moves every package to its newest release
# within the ranges. Run it where torch's CPU build is on disk, so that torch's own dependencies
# are the CPU build's (tests/test_lock.py refuses a lock that holds CUDA packages).
# It needs pip-compile only, not an install that matches pyproject.toml (which may have just
# changed): the venv is made from the current lock only when there is none.
LOCK_FLAGS ?=
lock:
	@test -x $(VENV)/bin/pip-compile || $(MAKE) $(VENV)/.installed
	CUSTOM_COMPILE_COMMAND="make lock" $(VENV)/bin/pip-compile --quiet $(LOCK_FLAGS) --extra dev \
	  --generate-hashes --strip-extras --unsafe-package torch --no-emit-index-url \
	  --no-emit-find-links -o $(LOCK) pyproject.toml

repro: $(VENV)/.installed
	dvc repro

# The browser test drives Debian's Chromium; install it when it is missing (needs root).
browser:
	@command -v chromium >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

lint: $(VENV)/.installed
	ruff check .
	ruff format --check .

# Two pytest workers (pytest-xdist), one torch thread each: both cores, without two workers'
# thread pools fighting over them.
PYTEST := OMP_NUM_THREADS=1 pytest -n 2

# Development loop: everything but the end-to-end tests, in under two minutes.
test-fast: $(VENV)/.installed
	$(PYTEST) -m "not slow"

# What CI runs: lint, the fast tier, then the slow tier (whole pipeline, browser, kill-and-resume).
test: $(VENV)/.installed lint browser
	$(PYTEST) -m "not slow"
	$(PYTEST) -m slow
