# authsvc container image.
#
#   docker build -t authsvc .                       # real base: python:3.12-slim
#   scripts/image/build.sh                          # buildah, no Docker engine needed
#   scripts/image/build.sh --base localhost/authsvc-base:bookworm   # local Debian base (offline from registries)
#
# Run: docker run -e AUTHSVC_KEY_ENCRYPTION_SECRET=... -v authsvc-data:/data -p 8000:8000 authsvc
# No secret is baked in: AUTHSVC_KEY_ENCRYPTION_SECRET must come from the environment at run time.
#
# Any base works that has `python3` (>= 3.11, with the venv module) on PATH; both stages use the same
# base so the venv's interpreter symlink resolves in the runtime stage. `python3` is used throughout
# because Debian's own python has no `python` command.
ARG BASE_IMAGE=python:3.12-slim

# ------------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS build

# No PIP_CONFIG_FILE / --isolated here on purpose: pip must honour the base image's pip config
# (/etc/pip.conf or PIP_CONFIG_FILE), which may point `cert` at a site CA bundle.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python3 -m venv /opt/authsvc/venv

WORKDIR /src

# Dependencies first, in their own layer, so a source-only change does not reinstall them. They
# come from uv.lock, exactly as pinned and hashed there: the `server` extra, no development tools.
# uv (the release pyproject.toml names) only exports the lock, from a throw-away venv; pip, which
# honours the base image's pip configuration, installs it. README.m[d] is a glob so this step
# also works while the file is absent (setuptools needs it only for the final install).
COPY pyproject.toml uv.lock README.m[d] ./
RUN uv_version=$(python3 -c "import tomllib; print(tomllib.load(open('pyproject.toml', 'rb'))['tool']['uv']['required-version'].lstrip('='))") \
 && python3 -m venv /tmp/uv \
 && /tmp/uv/bin/python3 -m pip install --quiet "uv==${uv_version}" \
 && /tmp/uv/bin/uv export --frozen --no-dev --extra server --no-emit-project \
        --format requirements-txt --output-file /tmp/requirements.txt \
 && rm -rf /tmp/uv \
 && /opt/authsvc/venv/bin/python3 -m pip install --require-hashes -r /tmp/requirements.txt

# .dockerignore is an allow-list: this copies only pyproject.toml, README.md, alembic.ini,
# alembic/ and authsvc/ (whichever exist), minus caches and key material.
COPY . .
# /app-files collects what the runtime stage puts in /app: alembic.ini + alembic/ when the repo
# has them (`authsvc db upgrade` can also use the migrations shipped inside the package).
# pip and setuptools are then removed from the venv (~25 MB): nothing installs at run time.
# --no-deps: every dependency is already installed from the lock; `pip check` proves none is missing.
RUN /opt/authsvc/venv/bin/python3 -m pip install --no-deps . \
 && /opt/authsvc/venv/bin/python3 -m pip check \
 && /opt/authsvc/venv/bin/python3 -m pip uninstall --yes --quiet pip setuptools \
 && mkdir -p /app-files \
 && if [ -f alembic.ini ]; then cp alembic.ini /app-files/; fi \
 && if [ -d alembic ]; then cp -r alembic /app-files/; fi \
 && find /app-files -name '__pycache__' -prune -exec rm -rf {} +

# ------------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime

LABEL org.opencontainers.image.title="authsvc" \
      org.opencontainers.image.description="Stateless JWT authentication service" \
      org.opencontainers.image.licenses="MIT"

ENV PATH=/opt/authsvc/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AUTHSVC_DATABASE_URL=sqlite:////data/authsvc.db \
    AUTHSVC_HOST=0.0.0.0 \
    AUTHSVC_PORT=8000

# Fixed uid/gid so volume ownership is predictable across hosts.
RUN groupadd --gid 10001 authsvc \
 && useradd --no-log-init --uid 10001 --gid 10001 --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin authsvc \
 && mkdir -p /data /app \
 && chown 10001:10001 /data

COPY --from=build /opt/authsvc/venv /opt/authsvc/venv
COPY --from=build /app-files/ /app/

WORKDIR /app
# SQLite lives here by default; declared after the chown so the volume starts out owned by authsvc.
VOLUME ["/data"]
EXPOSE 8000
USER 10001:10001

# No curl in slim images: python's urllib. urlopen raises (exit 1) on connection errors and non-2xx.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('AUTHSVC_PORT', '8000'), timeout=4)"]

ENTRYPOINT ["authsvc"]
CMD ["serve"]
