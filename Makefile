# The two commands of the README: `make run` and `make test`.
VENV := .venv
PYTHON := $(VENV)/bin/python

.PHONY: run test clean

$(VENV)/installed: requirements/*.txt
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet -r requirements/dev.txt
	touch $@

# The three services on 8103/8104/8105 with gunicorn; Ctrl-C stops them all.
run: $(VENV)/installed
	$(PYTHON) -m ops.run_local

# The whole test suite; installs Prometheus and Chromium (Debian packages) when missing.
test: $(VENV)/installed
	command -v prometheus >/dev/null && command -v chromium >/dev/null || scripts/install-system-packages.sh
	$(PYTHON) -m pytest

clean:
	rm -rf $(VENV) .pytest_cache
