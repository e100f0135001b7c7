# The two commands of the quick start: `make plan` and `make test`. Both set up what
# they need from the project's own files on a fresh machine.

VENV    ?= .venv
PY      := $(VENV)/bin/python
STACK   ?= kz-prod
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: plan test drill runbooks bench build-deps system-deps clean

# The virtualenv Pulumi.yaml names, with the project and its `multidc` command installed.
$(VENV)/.installed: pyproject.toml | build-deps
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,serving]'
	touch $@

# Debian packages the tests, drills and benchmarks use, as command:package pairs: rclone copies
# buckets between S3 endpoints; wrk loads the model servers in benchmarks/serving.py; knot is the
# DNS server the DNS failover test updates (RFC 2136); etcd holds the primary site's lease; promtool
# tests the generated alert rules; prometheus and prometheus-postgres-exporter watch a local replica pair;
# Redis and MariaDB servers stand in for the managed ones of a site (replication links, drills);
# systemd-analyze checks the archive host's timer schedules; busybox-static's crond keeps a local deployment's base backups on schedule (Debian's busybox has no crond).
SYSTEM_DEPS := rclone:rclone wrk:wrk knotd:knot etcd:etcd-server promtool:prometheus \
	prometheus-postgres-exporter:prometheus-postgres-exporter redis-server:redis-server mariadbd:mariadb-server \
	systemd-analyze:systemd
# What pip needs to build the test extra: barman-cloud's psycopg2 compiles against libpq.
BUILD_DEPS := pg_config:libpq-dev gcc:gcc

# One apt-get run for whatever is missing (each command looked up on root's PATH, sbin included).
build-deps: DEPS = $(BUILD_DEPS)
system-deps: DEPS = $(BUILD_DEPS) $(SYSTEM_DEPS)
build-deps system-deps:
	@missing=""; for pair in $(DEPS); do \
	  PATH="$$PATH:/usr/sbin:/sbin" command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; \
	done; \
	if [ "$@" = system-deps ] && ! busybox --list 2>/dev/null | grep -qx crond; then \
	  missing="$$missing busybox-static"; \
	fi; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

plan: $(VENV)/.installed
	$(VENV)/bin/multidc plan --stack $(STACK)

test: $(VENV)/.installed system-deps
	$(VENV)/bin/pytest

drill: $(VENV)/.installed system-deps
	$(VENV)/bin/multidc drill --stack $(STACK)

runbooks: $(VENV)/.installed
	$(VENV)/bin/multidc runbook

$(VENV)/.bench: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test,serving,bench]'
	touch $@

bench: $(VENV)/.bench system-deps
	$(PY) benchmarks/plan_scale.py
	$(PY) benchmarks/restore.py
	$(PY) benchmarks/drill.py
	$(PY) benchmarks/serving.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
