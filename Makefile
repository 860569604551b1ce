# officepulse — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python

.PHONY: setup setup-tray run run-server run-agent demo wheel package extension test check lint fmt system-deps bench clean

setup: $(VENV)/.installed node_modules/.installed extension/node_modules/.installed

# The agent's tray icon (`officepulse agent --tray`): pystray and Pillow, and PyGObject for
# pystray's GTK backends (tested too), which builds against the GTK libraries
# scripts/system-deps installs.
setup-tray: system-deps $(VENV)/.tray-installed

$(VENV)/.tray-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[dev,tray,tray-gtk]'
	@touch $@

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "officepulse needs Python 3.11 or newer (found %s); set PYTHON=python3.x" % sys.version.split()[0])'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# The browser extension's tools (web-ext: lint, build), pinned in extension/package-lock.json.
extension/node_modules/.installed: extension/package.json extension/package-lock.json
	cd extension && npm ci --no-audit --no-fund
	@touch $@

# extension/dist/officepulse_tabs-VERSION.zip, for a browser's add-on store.
extension: extension/node_modules/.installed
	cd extension && npm run lint && npm run build

run: setup
	scripts/run

run-server: setup
	$(BIN)/officepulse server

run-agent: setup
	$(BIN)/officepulse agent

demo: setup
	scripts/demo

# dist/officepulse-*.whl, with the dashboard's pinned htmx files inside (setup.py).
wheel: setup
	$(PY) -m build --wheel

# The packaged agent, dist/officepulse-agent: one file that runs without Python or the
# project, with `officepulse agent`'s arguments (packaging/officepulse-agent.spec). The
# same spec builds the macOS .app and the Windows .exe: .github/workflows/package.yml.
PACKAGE_DIST ?= dist
PACKAGE_WORK ?= build/pyinstaller

$(VENV)/.package-installed: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev,package]'
	@touch $@

package: $(VENV)/.package-installed
	$(BIN)/pyinstaller --noconfirm --log-level WARN --distpath $(PACKAGE_DIST) \
		--workpath $(PACKAGE_WORK) packaging/officepulse-agent.spec

system-deps:
	scripts/system-deps

# ActivityWatch's own server and client, for the tests that compare officepulse's
# /api/0/ with the real thing (pinned: peewee 4 and Flask 2.3 break aw-server 0.12).
.venv-aw/.installed:
	test -x .venv-aw/bin/python || $(PYTHON) -m venv .venv-aw
	.venv-aw/bin/python -m pip install --quiet 'aw-server==0.12.0' aw-client 'peewee<4' 'flask<2.3'
	@touch $@

# Two worker processes (pytest-xdist): most tests wait on servers, browsers and X servers,
# so two keep the machine's two cores busy. Each test file runs whole on one worker, and
# a few heavy ones on the same worker (tests/support/scheduling.py). One test alone, in
# one process:
# make test PYTEST_ARGS='-n 0 tests/server/test_server.py::test_name'
PYTEST_WORKERS ?= 2
test: setup .venv-aw/.installed system-deps $(VENV)/.tray-installed $(VENV)/.package-installed check
	$(BIN)/pytest -p no:cacheprovider -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

check:
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

lint: check

fmt:
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

bench: setup
	$(PY) bench/ingest.py

# A scaled-out office on this one machine, for trying it: NATS, PostgreSQL (both from the
# dev extra's wheels), three `officepulse gateway`s, an `officepulse panel` and HAProxy
# (deploy/haproxy/officepulse.cfg) on :8080, the same URLs as `make run`; Ctrl-C stops it
# all and throws its database away. tests/server/test_cluster.py starts the same
# (tests/support/cluster.py) on free ports.
CLUSTER_PORT ?= 8080
.PHONY: cluster
cluster: setup
	@test -x /usr/sbin/haproxy || command -v haproxy >/dev/null || { echo "make cluster needs HAProxy: run make system-deps"; exit 1; }
	$(PY) -m tests.support.cluster --port $(CLUSTER_PORT)

clean:
	rm -rf $(VENV) node_modules extension/node_modules extension/dist .mypy_cache .ruff_cache .pytest_cache .hypothesis
