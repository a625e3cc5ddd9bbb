# The two commands of the README: `make run` and `make test`.
VENV := .venv
PYTHON := $(VENV)/bin/python
NODE_TOOLS := tests/node_tools/node_modules/.package-lock.json

.PHONY: run runserver test test-e2e test-fast lint bench lab stack-check clean freeze resume reload

$(VENV)/installed: requirements/*.txt
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet -r requirements/dev.txt
	touch $@

# The three services on 8103/8104/8105 with gunicorn, and their local backend; Ctrl-C stops it all.
# The terminal shows the trace trees and the services' warnings and errors; `make run SHOW=all`
# every log line too, SHOW=logs the lines alone (runtime/views/log_lines.py).
run: $(VENV)/installed
	$(PYTHON) -m runtime $(if $(SHOW),--show $(SHOW))

# The frontend under Django's runserver on 8115 (autoreload), beside `make run`: its backends, its trace view.
runserver: $(VENV)/installed
	$(PYTHON) -m runtime.launcher.runserver

# One service of a running `make run`, by the pid it recorded: `make freeze SERVICE=die-service`,
# then `make resume SERVICE=die-service`; `make reload SERVICE=die-service` re-reads its JSON file.
freeze resume reload: $(VENV)/installed
	$(PYTHON) -m runtime.launcher.control $@ $(SERVICE)

# Grafana's TraceQL and LogQL grammars, to check the queries we ship (tests/test_dashboard.py), and
# axe-core, to check the page against WCAG 2.1 AA (tests/test_page.py).
$(NODE_TOOLS): tests/node_tools/package-lock.json
	command -v npm >/dev/null || scripts/install-system-packages.sh
	npm ci --prefix tests/node_tools --silent --no-audit --no-fund

# The whole test suite; installs Prometheus, Alertmanager, Chromium's headless shell, PostgreSQL and its exporter
# (Debian packages) when missing.
test: $(VENV)/installed $(NODE_TOOLS)
	command -v prometheus >/dev/null && command -v prometheus-alertmanager >/dev/null && command -v chromium-headless-shell >/dev/null \
		&& command -v prometheus-postgres-exporter >/dev/null \
		&& ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || scripts/install-system-packages.sh
	$(PYTHON) -m pytest -n 3 --dist loadfile -m "not e2e"

# The end-to-end tests that take minutes of real traffic (docs/development.md): the SLO alerts
# through Prometheus and Alertmanager to a webhook, the budget-burn lab under make run.
test-e2e: $(VENV)/installed
	command -v prometheus >/dev/null && command -v prometheus-alertmanager >/dev/null || scripts/install-system-packages.sh
	$(PYTHON) -m pytest -m e2e

# The in-process tests only (no gunicorn, no browser, no Prometheus): seconds, for the edit loop.
test-fast: $(VENV)/installed $(NODE_TOOLS)
	$(PYTHON) -m pytest -q -m "not slow"

# ruff, with the rules pyproject.toml names and explains.
lint: $(VENV)/installed
	$(PYTHON) -m ruff check .

# Throughput, latency and what observability costs, layer by layer (docs/performance.md):
# about nine minutes of a saturated machine.
bench: $(VENV)/installed
	$(PYTHON) -m bench

# The labs (docs/labs.md): `make lab` lists them; `.venv/bin/python -m labs start NAME` begins one.
lab: $(VENV)/installed
	$(PYTHON) -m labs

# Needs Docker: `docker compose up`, traffic, every promise of docs/compose.md checked through the
# components' APIs on localhost, then `docker compose down` (docs/compose.md "Checking the stack").
stack-check: $(VENV)/installed
	$(PYTHON) -m stackcheck

clean:
	rm -rf $(VENV) .pytest_cache tests/node_tools/node_modules
