# The README's two commands: `make run` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export AUTHSVC_DATABASE_URL ?= sqlite:///./var/authsvc.db

.PHONY: install run test lint typecheck pytest openapi config-docs bench clean fleet-deps bench-fleet image-deps image image-test browser-deps screenshots mail-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The embedded default needs a key-encryption secret; generate one into the git-ignored .env.
# `make run` serves plain HTTP on loopback, so its cookies follow the request scheme (`auto`);
# the service's own default stays `true` for every other deployment.
.env:
	@umask 077 && { \
	  printf 'AUTHSVC_KEY_ENCRYPTION_SECRET=%s\n' \
	    "$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(32))')"; \
	  printf 'AUTHSVC_COOKIE_SECURE=auto\n'; } > .env
	@echo "make: wrote .env (git-ignored): a new AUTHSVC_KEY_ENCRYPTION_SECRET (keep it: it decrypts the signing keys) and AUTHSVC_COOKIE_SECURE=auto for plain HTTP on 127.0.0.1"

run: install .env
	$(BIN)/authsvc db upgrade
	$(BIN)/authsvc serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy authsvc tests

# PostgreSQL and Redis suites run when the local servers answer (CI sets the URLs itself).
pytest: install
	AUTHSVC_TEST_POSTGRES_URL="$${AUTHSVC_TEST_POSTGRES_URL:-$$($(BIN)/python scripts/local_services.py postgres)}" \
	AUTHSVC_TEST_REDIS_URL="$${AUTHSVC_TEST_REDIS_URL:-$$($(BIN)/python scripts/local_services.py redis)}" \
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

openapi: install
	$(BIN)/authsvc openapi --output openapi/openapi.json

# The configuration reference is rendered from the settings' descriptions (a test compares).
config-docs: install
	$(BIN)/python -m authsvc.config.reference docs/configuration.md

bench: install
	$(BIN)/python benchmarks/session_vs_healthz.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# The mail tests run a real SMTP server in the test process: aiosmtpd, a development dependency
# that `make install` brings; this checks it is there (and installs it into an older .venv).
mail-deps: install
	@$(BIN)/python -c 'import aiosmtpd' 2>/dev/null || { \
	  echo "make: installing aiosmtpd for the mail tests"; \
	  $(BIN)/pip install --quiet 'aiosmtpd>=1.4.6'; }

# The fleet tests need nginx (Debian's package); initdb/pg_ctl come with PostgreSQL.
fleet-deps:
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
	  echo "make: installing nginx (Debian package) for the fleet tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light; }

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
	AUTHSVC_TEST_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/pytest tests/browser/test_screenshots.py -q

bench-fleet: install fleet-deps
	$(BIN)/python benchmarks/fleet.py

# The container image, built and run without a Docker engine (buildah, chroot isolation).
image-deps:
	@if ! command -v buildah >/dev/null || ! command -v debootstrap >/dev/null; then \
	  echo "make: installing buildah and debootstrap (Debian packages) for the image"; \
	  apt-get update -q >/dev/null && apt-get install -y -q buildah debootstrap >/dev/null; \
	fi

# The real base is python:3.12-slim; registries are out of reach here, so build on a local
# Debian base made once with debootstrap (cached in buildah's storage).
image: image-deps
	scripts/image/build-base.sh
	scripts/image/build.sh --base localhost/authsvc-base:bookworm

image-test: image
	scripts/image/image-test.sh --postgres $(if $(CI),require,auto)
