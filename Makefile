# The README's two commands: `make run` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export AUTHSVC_DATABASE_URL ?= sqlite:///./var/authsvc.db

# Installs come from uv.lock, through the uv release pyproject.toml names ([tool.uv]), which is
# installed into .venv first. Dependencies are declared in pyproject.toml: the verifier's in
# `dependencies`, the service's in the `server` extra, the tools' in the `dev` group; after
# changing them, `make lock` (docs/development.md).
UV_VERSION := $(shell sed -n 's/^required-version = "==\(.*\)"$$/\1/p' pyproject.toml)
UV := $(BIN)/uv
UV_STAMP := $(VENV)/.uv-$(UV_VERSION)
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
# --locked stops when uv.lock no longer matches pyproject.toml; --inexact keeps what else is
# installed (uv itself, and the development tools when `make run` follows `make test`).
SYNC := $(UV) sync --locked --inexact --extra server

.PHONY: install install-server lock run test lint typecheck pytest chaos openapi config-docs bench clean fleet-deps pgbouncer-deps bench-fleet image-deps image image-test compose-deps compose-test browser-deps screenshots mail-deps k8s-deps kube-test

$(UV_STAMP):
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	touch $@

# The service alone: what `make run` needs.
$(VENV)/.server-stamp: pyproject.toml uv.lock $(UV_STAMP)
	$(SYNC) --no-dev
	touch $@

# The service and the tests, linters and type checker.
$(VENV)/.dev-stamp: pyproject.toml uv.lock $(UV_STAMP)
	$(SYNC)
	touch $@

install: $(VENV)/.dev-stamp

install-server: $(VENV)/.server-stamp

# Re-resolve uv.lock after a change of the dependencies in pyproject.toml; `make lock
# UPGRADE=1` also moves every pin to the newest release the constraints allow.
lock: $(UV_STAMP)
	$(UV) lock $(if $(UPGRADE),--upgrade)

# The embedded default needs a key-encryption secret; generate one into the git-ignored .env.
# `make run` serves plain HTTP on loopback, so its cookies follow the request scheme (`auto`);
# the service's own default stays `true` for every other deployment.
.env:
	@umask 077 && { \
	  printf 'AUTHSVC_KEY_ENCRYPTION_SECRET=%s\n' \
	    "$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(32))')"; \
	  printf 'AUTHSVC_COOKIE_SECURE=auto\n'; } > .env
	@echo "make: wrote .env (git-ignored): a new AUTHSVC_KEY_ENCRYPTION_SECRET (keep it: it decrypts the signing keys) and AUTHSVC_COOKIE_SECURE=auto for plain HTTP on 127.0.0.1"

run: install-server .env
	$(BIN)/authsvc db upgrade
	$(BIN)/authsvc serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy authsvc tests benchmarks

# PostgreSQL and Redis suites run when the local servers answer (CI sets the URLs itself).
# PYTEST_WORKERS=2 splits the suite over two processes; the tests that share Redis or the
# container image stay on one of them (tests/helpers/parallel.py). 0, the default, is one process.
PYTEST_WORKERS ?= 0
pytest: install
	AUTHSVC_TEST_POSTGRES_URL="$${AUTHSVC_TEST_POSTGRES_URL:-$$($(BIN)/python scripts/local_services.py postgres)}" \
	AUTHSVC_TEST_REDIS_URL="$${AUTHSVC_TEST_REDIS_URL:-$$($(BIN)/python scripts/local_services.py redis)}" \
	$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

test: lint typecheck pytest

# The history checker run longer than inside `make test` (docs/sessions.md#the-history-checker):
# CHAOS_SECONDS (300), CHAOS_SEED (random; a failure prints it), CHAOS_CLIENTS, CHAOS_USERS and
# CHAOS_CACHE (postgres or redis) choose the run.
chaos: install fleet-deps
	AUTHSVC_TEST_POSTGRES_URL="$${AUTHSVC_TEST_POSTGRES_URL:-$$($(BIN)/python scripts/local_services.py postgres)}" \
	CHAOS_SECONDS="$${CHAOS_SECONDS:-300}" \
	$(BIN)/pytest tests/chaos -q $(PYTEST_ARGS)

openapi: install
	$(BIN)/authsvc openapi --output openapi/openapi.json

# The configuration reference is rendered from the settings' descriptions (a test compares).
config-docs: install
	$(BIN)/python -m authsvc.config.reference docs/configuration.md

# Every benchmark in one run (PostgreSQL rows when it answers), then the table of their
# targets; QUICK=1 runs them shorter. Servers are pinned with taskset, the load runs on wrk.
bench: install
	$(BIN)/python benchmarks/run_all.py $(if $(QUICK),--quick)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# The mail tests run a real SMTP server in the test process: aiosmtpd, a development dependency
# that `make install` brings from the lock; this checks that it did.
mail-deps: install
	@$(BIN)/python -c 'import aiosmtpd' 2>/dev/null || { \
	  echo "make: aiosmtpd is missing from .venv: is it in the dev group of uv.lock?" >&2; exit 1; }

# The fleet tests need nginx (Debian's package); initdb/pg_ctl come with PostgreSQL.
fleet-deps:
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
	  echo "make: installing nginx (Debian package) for the fleet tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light; }

# The push-channel tests put a real PgBouncer (Debian's package) in front of PostgreSQL.
pgbouncer-deps:
	@command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || { \
	  echo "make: installing pgbouncer (Debian package) for the push-channel tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pgbouncer; }

bench-fleet: install fleet-deps
	$(BIN)/python benchmarks/fleet.py

# The browser tests drive Debian's Chromium (never a downloaded browser build).
browser-deps:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  echo "make: installing chromium and chromium-driver (Debian packages) for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null; \
	fi

# The hosted pages at 390 and 1280 px wide, as docs/ui.md shows them.
screenshots: install browser-deps
	mkdir -p docs/screenshots
	AUTHSVC_TEST_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/pytest tests/browser/test_screenshots.py tests/browser/test_mfa_pages.py tests/browser/test_passkey_pages.py -q

# The container image, built and run without a Docker engine (buildah, chroot isolation).
image-deps:
	@if ! command -v buildah >/dev/null || ! command -v debootstrap >/dev/null; then \
	  echo "make: installing buildah and debootstrap (Debian packages) for the image"; \
	  apt-get update -q >/dev/null && apt-get install -y -q buildah debootstrap >/dev/null; \
	fi

# The real base is python:3.12-slim; registries are out of reach here, so build on a local
# Debian base made once with debootstrap (cached in buildah's storage).
# IMAGE_TAG names the image built and tested (parallel work trees can keep theirs apart).
IMAGE_TAG ?= localhost/authsvc:dev
image: image-deps
	scripts/image/build-base.sh
	scripts/image/build.sh --base localhost/authsvc-base:bookworm --tag $(IMAGE_TAG)

image-test: image
	scripts/image/image-test.sh --image $(IMAGE_TAG) --postgres $(if $(CI),require,auto)

# deploy/compose.yaml run for real with Debian's podman (runc: crun refuses this machine's
# cgroups), on the image `make image` built and local stand-ins for the public images.
compose-deps:
	@if ! command -v podman >/dev/null || ! command -v podman-compose >/dev/null || ! command -v runc >/dev/null; then \
	  echo "make: installing podman, podman-compose and runc (Debian packages) for the compose test"; \
	  apt-get update -q >/dev/null && apt-get install -y -q podman podman-compose runc >/dev/null; \
	fi
	@# Two of podman's recommended packages, which an install without them lacks: catatonit, the
	@# init of the pause container every pod of `podman kube play` starts with, and the DNS plugin
	@# of its network backend, without which the compose services cannot find each other by name.
	@command -v catatonit >/dev/null || [ -x /usr/libexec/podman/catatonit ] || { \
	  echo "make: installing catatonit (Debian package): the pause container of podman's pods"; \
	  apt-get update -q >/dev/null && apt-get install -y -q catatonit >/dev/null; }
	@case "$$(podman info --format '{{.Host.NetworkBackend}}' 2>/dev/null)" in \
	  netavark) dns=aardvark-dns; found=$$(ls /usr/lib/podman/aardvark-dns /usr/libexec/podman/aardvark-dns 2>/dev/null) ;; \
	  *) dns=golang-github-containernetworking-plugin-dnsname; found=$$(ls /usr/lib/cni/dnsname 2>/dev/null) ;; \
	esac; \
	if [ -z "$$found" ]; then \
	  echo "make: installing $$dns (Debian package): podman's container names for the compose test"; \
	  apt-get update -q >/dev/null && apt-get install -y -q "$$dns" >/dev/null; \
	fi

compose-test: compose-deps
	scripts/compose/compose-test.sh --image $(IMAGE_TAG)

# The Kubernetes manifests (deploy/kubernetes): `kubectl kustomize` renders them (kubectl comes
# with the machine image; Debian's kubernetes-client is too old for the kustomizations), and
# checkov, heavy and with pins of its own, runs from a venv of its own in .tools/.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .tools/checkov
k8s-deps:
	@command -v kubectl >/dev/null || { \
	  echo "make: kubectl is missing: the manifest tests render deploy/kubernetes with kubectl kustomize" >&2; exit 1; }
	@if ! $(CHECKOV_VENV)/bin/checkov --version 2>/dev/null | grep -qx '$(CHECKOV_VERSION)'; then \
	  echo "make: installing checkov $(CHECKOV_VERSION) into $(CHECKOV_VENV) for the manifest tests"; \
	  rm -rf $(CHECKOV_VENV) && $(PYTHON) -m venv $(CHECKOV_VENV) \
	  && $(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check "checkov==$(CHECKOV_VERSION)"; \
	fi

# The Kubernetes SQLite demo run for real with `podman kube play`, on the image `make image`
# built (scripts/kubernetes/kube-test.sh).
kube-test: install compose-deps
	scripts/kubernetes/kube-test.sh --image $(IMAGE_TAG) --python $(BIN)/python
