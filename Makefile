# twistar developer tasks.
#
#   make test    ruff + mypy + pydoctor + the trial suite on sqlite, PostgreSQL (also
#                through PgBouncer) and MariaDB, each with a replica;
#                the sdist and wheel built and checked; with nox, the suite on
#                SQLite on Python 3.10-3.13 x lowest/newest Twisted, and the
#                wheel alone in a fresh virtualenv of each Python
#   make demo    run examples/quickstart.py
#   make service run the example service, examples/service/app.py, on
#                http://127.0.0.1:8080/ (its database: $DATABASE_URL, else
#                the SQLite file bookshop.db here)
#   make bench   run bench/run.py
#   make apidocs build the API reference into build/apidocs (pydoctor)
#
# Everything installs what it needs: Debian packages (when missing, as root),
# a virtualenv in .venv, and the project in editable mode.  A second run
# skips the installs (stamp files in .venv, redone when pyproject.toml changes).

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP_BASE := $(VENV)/.stamp-base
STAMP_DEV := $(VENV)/.stamp-dev

.PHONY: test demo service bench apidocs venv dev-install system-deps clean

test: system-deps $(STAMP_DEV)
	$(VPY) scripts/run_tests.py --package --matrix

demo: $(STAMP_BASE)
	$(VPY) examples/quickstart.py

service: $(STAMP_BASE)
	$(VPY) -c 'import yoyo' 2>/dev/null || $(VPY) -m pip install --quiet -e '.[migrations]'
	$(VPY) examples/service/app.py

bench: system-deps $(STAMP_DEV)
	$(VPY) bench/run.py

apidocs: $(STAMP_DEV)
	$(VPY) scripts/apidocs.py

venv: $(VPY)

dev-install: $(STAMP_DEV)

$(VPY):
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip || true

# Debian packages, installed only when missing (the checks take milliseconds):
# pkg-config and libmariadb-dev to build mysqlclient, and the test servers
# (PgBouncer included).
system-deps:
	@missing=""; \
	command -v pkg-config >/dev/null 2>&1 || missing="$$missing pkg-config"; \
	{ pkg-config --exists libmariadb 2>/dev/null || pkg-config --exists mysqlclient 2>/dev/null; } \
	  || missing="$$missing libmariadb-dev"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	{ [ -x /usr/sbin/pgbouncer ] || command -v pgbouncer >/dev/null 2>&1; } \
	  || missing="$$missing pgbouncer"; \
	{ [ -x /usr/sbin/mariadbd ] || [ -x /usr/sbin/mysqld ] || command -v mariadbd >/dev/null 2>&1; } \
	  || missing="$$missing mariadb-server"; \
	{ command -v mariadb >/dev/null 2>&1 || command -v mysql >/dev/null 2>&1; } \
	  || missing="$$missing mariadb-client"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(STAMP_BASE): pyproject.toml setup.py | $(VPY)
	$(VPY) -m pip install --quiet -e .
	@touch $@

$(STAMP_DEV): pyproject.toml setup.py | $(VPY) system-deps
	$(VPY) -m pip install --quiet -e '.[dev]'
	@touch $@ $(STAMP_BASE)

clean:
	rm -rf build dist *.egg-info _trial_temp* .mypy_cache .ruff_cache .nox
