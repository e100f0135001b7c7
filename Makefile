# The two commands of the quick start: `make plan` and `make test`. Both set up what
# they need from the project's own files on a fresh machine.

VENV    ?= .venv
PY      := $(VENV)/bin/python
STACK   ?= kz-prod
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: plan test drill runbooks bench system-deps clean

# The virtualenv Pulumi.yaml names, with the project and its `multidc` command installed.
$(VENV)/.installed: pyproject.toml | system-deps
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# Debian packages the tests and drills use: rclone copies buckets between S3 endpoints.
system-deps:
	@command -v rclone >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq rclone; }
	@command -v pg_config >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq libpq-dev gcc; }

plan: $(VENV)/.installed
	$(VENV)/bin/multidc plan --stack $(STACK)

test: $(VENV)/.installed system-deps
	$(VENV)/bin/pytest

drill: $(VENV)/.installed system-deps
	$(VENV)/bin/multidc drill --stack $(STACK)

runbooks: $(VENV)/.installed
	$(VENV)/bin/multidc runbook

$(VENV)/.bench: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $@

bench: $(VENV)/.bench system-deps
	$(PY) benchmarks/plan_scale.py
	$(PY) benchmarks/restore.py
	$(PY) benchmarks/drill.py
	$(PY) benchmarks/serving.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
