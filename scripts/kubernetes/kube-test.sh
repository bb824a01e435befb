#!/usr/bin/env bash
# Run the Kubernetes SQLite demo (deploy/kubernetes/overlays/demo) for real with podman kube play.
#
# Usage: scripts/kubernetes/kube-test.sh [--image IMAGE] [--python PYTHON]
#   --image IMAGE    the authsvc image (default localhost/authsvc:dev, as `make image` builds it)
#   --python PYTHON  a Python with PyYAML (default .venv/bin/python, as `make install` makes it)
#
# The overlay is rendered with `kubectl kustomize` exactly as a user would, after writing its
# git-ignored secrets.env, in a copy of deploy/kubernetes. podman_manifests.py then adapts the
# output to podman 4.3 (what and why: its docstring). Podman runs with runc and lower ulimits,
# as in scripts/compose/compose-test.sh (crun refuses this machine's cgroups).
# Checks: the init container migrates and the server starts (GET /readyz: database and a
# signing key the first start created); GET /healthz; a user created with `authsvc users create`
# in the pod logs in and GET /session names it; the server runs as uid 10001 on a read-only root
# filesystem; `podman kube down` stops and removes the pod. Pod, secret and volume are removed
# at the end, even on failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
IMAGE="localhost/authsvc:dev"
PYTHON="$root/.venv/bin/python"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --image) IMAGE="${2:?--image needs a value}"; shift 2 ;;
        --python) PYTHON="${2:?--python needs a value}"; shift 2 ;;
        -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "kube-test: unknown argument: $1" >&2; exit 2 ;;
    esac
done

NAME="authsvc-kube-test-$$"
STEP=setup
log() { echo "kube-test: $*" >&2; }
die() { echo "kube-test: FAILED at [$STEP]: $*" >&2; exit 1; }
# shellcheck source=../lib/in-container.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/in-container.sh"

[[ $(id -u) -eq 0 ]] || die "must run as root"
for tool in podman runc kubectl curl; do
    command -v "$tool" >/dev/null || die "$tool missing (make compose-deps installs podman and runc)"
done
"$PYTHON" -c 'import yaml' 2>/dev/null || die "$PYTHON has no PyYAML (make install)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/authsvc-kube-test.XXXXXX")
cat >"$WORK/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
CONF
cat >"$WORK/storage.conf" <<'CONF'
[storage]
driver = "vfs"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
CONF
export CONTAINERS_CONF="$WORK/containers.conf" CONTAINERS_STORAGE_CONF="$WORK/storage.conf"

SECRETS=()
cleanup() {
    set +e
    [[ -f "$WORK/play.yaml" ]] && podman kube down "$WORK/play.yaml" >/dev/null 2>&1
    podman pod rm -f -t 5 "$NAME-pod-0" >/dev/null 2>&1
    for secret in "${SECRETS[@]}"; do podman secret rm "$secret" >/dev/null 2>&1; done
    podman volume rm -f "$NAME-authsvc-data" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT

podman image exists "$IMAGE" || die "no image $IMAGE (make image)"

# ---- render, as docs/kubernetes.md tells a user to ----------------------------------------------
STEP=render
cp -r "$root/deploy/kubernetes" "$WORK/kubernetes"
demo="$WORK/kubernetes/overlays/demo"
(umask 077; printf 'AUTHSVC_KEY_ENCRYPTION_SECRET=%s\n' \
    "$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')" >"$demo/secrets.env")
kubectl kustomize "$demo" >"$WORK/rendered.yaml" || die "kubectl kustomize failed"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
"$PYTHON" "$here/podman_manifests.py" "$WORK/rendered.yaml" "$WORK" \
    --image "$IMAGE" --name "$NAME" --host-port "$PORT" >"$WORK/secrets.txt"
while read -r secret file; do
    podman secret create "$secret" "$file" >/dev/null || die "podman secret create $secret failed"
    SECRETS+=("$secret")
done <"$WORK/secrets.txt"

# ---- play ---------------------------------------------------------------------------------------
STEP=play
podman kube play "$WORK/play.yaml" >"$WORK/play.log" 2>&1 \
    || { tail -n 20 "$WORK/play.log" >&2; die "podman kube play failed"; }
SERVER="$NAME-pod-0-authsvc"
log "playing $NAME on $BASE"

STEP=ready
ready=""
for _ in $(seq 1 120); do
    ready=$(curl -s -m 2 "$BASE/readyz" || true)
    [[ "$ready" == *'"status":"ready"'* ]] && break
    sleep 1
done
[[ "$ready" == *'"status":"ready"'* ]] || {
    podman ps -a --filter "pod=$NAME-pod-0" >&2
    podman logs "$SERVER" 2>&1 | tail -n 20 >&2
    die "not ready after 120 s: $ready"
}
log "ready: $ready"
health=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$BASE/healthz")
[[ "$health" == 200 ]] || die "GET /healthz answered $health"

STEP=non-root
uid=$(in_container "$SERVER" id -u) || die "id -u in the server failed: $uid"
[[ "$uid" == 10001 ]] || die "the server does not run as uid 10001 but $uid"
if in_container "$SERVER" touch /app/written >/dev/null; then
    die "the root filesystem is writable"
fi

STEP=login
# A lost answer may have created the account: one that exists already counts as created.
created=$(in_container --stdin 'correct horse battery staple' "$SERVER" \
    authsvc users create alice --password-stdin) \
    || [[ "$created" == *"exists already"* ]] || die "authsvc users create failed: $created"
headers=$(curl -s -m 10 -D - -o /dev/null -H 'Content-Type: application/json' \
    -d '{"username": "alice", "password": "correct horse battery staple"}' "$BASE/login")
token=$(printf '%s' "$headers" | tr -d '\r' | sed -n 's/^set-cookie: authsvc_at=\([^;]*\);.*/\1/Ip' | head -n 1)
[[ -n "$token" ]] || die "no access cookie in the login's answer: $headers"
curl -s -m 10 -H "Cookie: authsvc_at=$token" "$BASE/session" | grep -q '"username":"alice"' \
    || die "GET /session did not answer alice"

# ---- down ---------------------------------------------------------------------------------------
STEP=down
podman kube down "$WORK/play.yaml" >"$WORK/down.log" 2>&1 || { cat "$WORK/down.log" >&2; die "podman kube down failed"; }
if podman pod exists "$NAME-pod-0"; then die "the pod is still there after podman kube down"; fi
if curl -s -m 2 -o /dev/null "$BASE/healthz"; then die "still answering after podman kube down"; fi

echo "kube-test: PASSED"
