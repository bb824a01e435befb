#!/usr/bin/env bash
# Run deploy/compose.yaml for real with Debian's podman and podman-compose, and check it.
#
# Usage: scripts/compose/compose-test.sh [--image IMAGE]
#   --image IMAGE  the authsvc image (default localhost/authsvc:dev, as `make image` builds it)
#
# What this machine needs, and why (each found by trying):
#   * registries are out of reach, so the public images of the compose file (postgres, redis,
#     nginx, traefik/whoami) are replaced, through an override file, by local stand-ins built
#     here on the Debian base of `make image` with Debian's packages (built once, then cached);
#   * crun refuses this machine's cgroups ("cgroups in hybrid mode not supported, drop all
#     controllers from cgroupv2"): the runtime is runc;
#   * processes here may not raise resource limits (no CAP_SYS_RESOURCE), and podman's default
#     ulimits are above the hard limits ("setrlimit RLIMIT_NOFILE: Operation not permitted"):
#     the containers get lower ones;
#   * podman-compose 1.0.3 cannot read a service's `networks: {name: {ipv4_address: ...}}` (it
#     stops with a KeyError) and creates networks without their `ipam` subnet: the network is
#     created first with the compose file's subnet, and nginx is started by hand with the same
#     settings as its service.
# Containers, network and volume carry a project name of their own and are removed at the end,
# even on failure. Checks: /readyz through nginx; a login; GET /session through nginx; the app
# behind forward-auth.conf receives the identity and never the client's forged X-Auth-* headers;
# no token and a revoked one are refused at the gateway; `authsvc keys revoke` in one instance
# makes all three refuse the key's tokens; /metrics is not served through nginx.
set -euo pipefail

IMAGE="localhost/authsvc:dev"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --image) IMAGE="${2:?--image needs a value}"; shift 2 ;;
        -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "compose-test: unknown argument: $1" >&2; exit 2 ;;
    esac
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
deploy="$(cd "$here/../../deploy" && pwd)"
BASE=localhost/authsvc-base:bookworm
PROJECT="authsvc-compose-$$"
NETWORK="${PROJECT}_authsvc"
SUBNET=172.28.0.0/24   # deploy/compose.yaml's, with nginx at .10 (AUTHSVC_TRUSTED_PROXIES)
STEP=setup
log() { echo "compose-test: $*" >&2; }
die() {
    echo "compose-test: FAILED at [$STEP]: $*" >&2
    # What the instances said last, if they were started (their logs hold no secret).
    local name
    for name in authsvc-1 authsvc-2 authsvc-3 nginx; do
        podman container exists "${PROJECT}_${name}_1" 2>/dev/null || continue
        echo "compose-test: the last lines of ${name}:" >&2
        podman logs --tail 15 "${PROJECT}_${name}_1" 2>&1 | cut -c1-400 >&2
    done
    exit 1
}
# shellcheck source=../lib/in-container.sh
source "$here/../lib/in-container.sh"

[[ $(id -u) -eq 0 ]] || die "must run as root"
for tool in podman podman-compose runc buildah python3; do
    command -v "$tool" >/dev/null || die "$tool missing (make compose-deps installs it)"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/authsvc-compose.XXXXXX")
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
BUILDAH=(buildah --storage-driver vfs)

cleanup() {
    set +e
    podman ps -a -q --filter "label=io.podman.compose.project=$PROJECT" | xargs -r podman rm -f -t 5 >/dev/null 2>&1
    podman rm -f -t 5 "${PROJECT}_nginx_1" >/dev/null 2>&1
    podman network rm "$NETWORK" >/dev/null 2>&1
    podman volume rm "${PROJECT}_postgres-data" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT

"${BUILDAH[@]}" inspect --type image "$IMAGE" >/dev/null 2>&1 || die "no image $IMAGE (make image)"
"${BUILDAH[@]}" inspect --type image "$BASE" >/dev/null 2>&1 || die "no base $BASE (make image)"

# ---- stand-ins for the public images ------------------------------------------------------------
standin() {  # NAME "DEBIAN PACKAGES" CONFIGURE-COMMAND...
    local name=$1 packages=$2 ctr
    shift 2
    "${BUILDAH[@]}" inspect --type image "$name" >/dev/null 2>&1 && return 0
    log "building the stand-in $name"
    ctr=$("${BUILDAH[@]}" from "$BASE")
    if [[ -n "$packages" ]]; then
        "${BUILDAH[@]}" run --isolation chroot "$ctr" -- sh -c "apt-get update -qq \
            && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
               $packages >/dev/null && rm -rf /var/lib/apt/lists/*"
    fi
    "$@" "$ctr"
    "${BUILDAH[@]}" commit --rm --format docker "$ctr" "$name" >/dev/null
}
postgres_config() {
    "${BUILDAH[@]}" copy --chmod 755 "$1" "$here/postgres-entrypoint.sh" /usr/local/bin/ >/dev/null
    "${BUILDAH[@]}" config --entrypoint '["/usr/local/bin/postgres-entrypoint.sh"]' --cmd '' "$1"
}
app_config() {
    "${BUILDAH[@]}" copy "$1" "$here/echo-app.py" /echo-app.py >/dev/null
    "${BUILDAH[@]}" config --entrypoint '["python3", "/echo-app.py"]' --cmd '' "$1"
}
STEP=stand-ins
standin localhost/authsvc-compose-postgres:15 "postgresql-15 postgresql-client-15" postgres_config
standin localhost/authsvc-compose-redis:7 redis-server "${BUILDAH[@]}" config \
    --cmd '["redis-server", "--protected-mode", "no", "--bind", "0.0.0.0", "--save", ""]'
standin localhost/authsvc-compose-nginx:1 nginx-light "${BUILDAH[@]}" config \
    --cmd '["nginx", "-g", "daemon off;"]'
standin localhost/authsvc-compose-app:1 "" app_config

cat >"$WORK/override.yaml" <<YAML
services:
  postgres: {image: "localhost/authsvc-compose-postgres:15"}
  redis: {image: "localhost/authsvc-compose-redis:7"}
  migrate: {image: "$IMAGE"}
  authsvc-1: {image: "$IMAGE"}
  authsvc-2: {image: "$IMAGE"}
  authsvc-3: {image: "$IMAGE"}
  app: {image: "localhost/authsvc-compose-app:1"}
YAML

# ---- up -----------------------------------------------------------------------------------------
STEP=up
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
GATEWAY="http://127.0.0.1:$PORT"
export AUTHSVC_KEY_ENCRYPTION_SECRET
AUTHSVC_KEY_ENCRYPTION_SECRET=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
export AUTHSVC_ISSUER="$GATEWAY"
podman network create --subnet "$SUBNET" "$NETWORK" >/dev/null \
    || die "could not create $NETWORK on $SUBNET (another compose run on this machine?)"
compose=(podman-compose -p "$PROJECT" -f "$deploy/compose.yaml" -f "$WORK/override.yaml")
up() {  # SERVICE...
    "${compose[@]}" up -d --no-deps "$@" >>"$WORK/up.log" 2>&1 \
        || { tail -n 30 "$WORK/up.log" >&2; die "podman-compose up $* failed"; }
}
# podman-compose 1.0.3 starts every service at once: it ignores the conditions of depends_on
# (service_healthy, service_completed_successfully) that Docker Compose waits for, and the
# migrations then ran against a PostgreSQL still being initialised, and failed, now and then.
# The stack is started in the order those conditions give.
up postgres redis
STEP=postgres
# Over TCP: while the entrypoint initialises the cluster, its server listens on the socket only.
for _ in $(seq 1 120); do
    podman exec "${PROJECT}_postgres_1" pg_isready -q -h 127.0.0.1 -U authsvc -d authsvc \
        >/dev/null 2>&1 && break
    sleep 1
done
if ! podman exec "${PROJECT}_postgres_1" pg_isready -q -h 127.0.0.1 -U authsvc -d authsvc \
    >/dev/null 2>&1; then
    podman logs "${PROJECT}_postgres_1" 2>&1 | tail -n 20 >&2
    die "PostgreSQL not ready after 120 s"
fi
STEP=migrate
up migrate
migrated=$(podman wait "${PROJECT}_migrate_1") \
    || die "podman wait for the migrations failed: $migrated"
if [[ "$migrated" != 0 ]]; then
    podman logs "${PROJECT}_migrate_1" 2>&1 | tail -n 20 >&2
    die "the migrations exited $migrated"
fi
STEP=up
up authsvc-1 authsvc-2 authsvc-3 app
# The nginx service, as deploy/compose.yaml declares it.
podman run -d --name "${PROJECT}_nginx_1" --net "$NETWORK" --ip 172.28.0.10 \
    --network-alias nginx -p "127.0.0.1:$PORT:8080" \
    -v "$deploy/nginx/nginx.conf:/etc/nginx/nginx.conf:ro" \
    -v "$deploy/nginx/authsvc-locations.conf:/etc/nginx/authsvc-locations.conf:ro" \
    -v "$deploy/nginx/forward-auth.conf:/etc/nginx/forward-auth.conf:ro" \
    localhost/authsvc-compose-nginx:1 >/dev/null
log "started project $PROJECT; nginx on $GATEWAY"

STEP=ready
ready=""
for _ in $(seq 1 120); do
    ready=$(curl -s -m 2 "$GATEWAY/readyz" || true)
    [[ "$ready" == *'"status":"ready"'* ]] && break
    sleep 1
done
[[ "$ready" == *'"status":"ready"'* ]] || {
    podman ps -a --filter "label=io.podman.compose.project=$PROJECT" >&2
    podman logs "${PROJECT}_authsvc-1_1" 2>&1 | tail -n 20 >&2
    die "not ready through nginx after 120 s: $ready"
}
log "ready through nginx: $ready"

# ---- checks -------------------------------------------------------------------------------------
STEP=login
# A lost answer may have created the account: one that exists already counts as created.
created=$(in_container --stdin 'correct horse battery staple' "${PROJECT}_authsvc-1_1" \
    authsvc users create alice --password-stdin) \
    || [[ "$created" == *"exists already"* ]] || die "users create failed: $created"
body="$WORK/login-body"
headers=$(curl -s -m 10 -D - -o "$body" -H 'Content-Type: application/json' \
    -d '{"username": "alice", "password": "correct horse battery staple"}' "$GATEWAY/login")
token=$(printf '%s' "$headers" | tr -d '\r' | sed -n 's/^set-cookie: authsvc_at=\([^;]*\);.*/\1/Ip' | head -n 1)
# Only the error code of the body is shown: a body without a cookie may still carry a token.
[[ -n "$token" ]] || die "no access cookie in the login's answer: $headers" \
    "error: $(grep -o '"error":"[a-z_]*"' "$body" || echo none); users create said: $created"
cookie="Cookie: authsvc_at=$token"

STEP=session
for _ in 1 2 3; do
    answer=$(curl -s -m 10 -w ' (HTTP %{http_code})' -H "$cookie" "$GATEWAY/session") || true
    [[ "$answer" == *'"username":"alice"'* ]] \
        || die "GET /session through nginx did not answer alice: $answer"
done

STEP=forward-auth
seen=$(curl -s -m 10 -H "$cookie" -H 'X-Auth-User: forged' -H 'X-Auth-Roles: admin' "$GATEWAY/app/orders")
python3 - "$seen" <<'PY' || die "the app saw: $seen"
import json, sys
seen = json.loads(sys.argv[1])
headers = {name.lower(): value for name, value in seen["headers"].items()}
assert seen["path"] == "/orders", seen
assert headers["x-auth-user"] not in ("", "forged"), headers
assert headers["x-auth-session"], headers
assert "x-auth-roles" not in headers, headers  # alice has none; the forged one is dropped
PY
status=$(curl -s -o /dev/null -w '%{http_code}' -m 10 -H 'X-Auth-User: forged' "$GATEWAY/app/orders")
[[ "$status" == 401 ]] || die "the app without a token answered $status"

STEP=key-revoke
kid=$(python3 -c 'import base64, json, sys; h = sys.argv[1].split(".")[0]; print(json.loads(base64.urlsafe_b64decode(h + "=="))["kid"])' "$token")
revoked=$(in_container "${PROJECT}_authsvc-2_1" authsvc keys revoke -- "$kid") \
    || die "keys revoke failed: $revoked"
# Every instance hears the revoke's announcement at once; the bound that holds without it is the
# key ring's refresh, AUTHSVC_KEY_REFRESH_SECONDS (10 s by default, which the compose file keeps;
# docs/keys.md): each instance is asked until it refuses, for at most that bound and a margin.
for n in 1 2 3; do
    deadline=$((SECONDS + 20))
    while :; do
        answer=$(in_container "${PROJECT}_authsvc-${n}_1" python3 -c '
import sys, urllib.error, urllib.request
request = urllib.request.Request("http://127.0.0.1:8000/session", headers={"Cookie": sys.argv[1]})
try:
    urllib.request.urlopen(request, timeout=5)
    print("accepted")
except urllib.error.HTTPError as error:
    print(error.code, error.read().decode())' "authsvc_at=$token") || true
        [[ "$answer" == *'401'*'key_revoked'* ]] && break
        [[ $SECONDS -lt $deadline ]] || die "authsvc-$n 20 s after the revoke: $answer"
        sleep 0.5
    done
done
status=$(curl -s -o /dev/null -w '%{http_code}' -m 10 -H "$cookie" "$GATEWAY/app/orders")
[[ "$status" == 401 ]] || die "the gateway let a revoked key's token through ($status)"

STEP=metrics
status=$(curl -s -o /dev/null -w '%{http_code}' -m 10 "$GATEWAY/metrics")
[[ "$status" == 404 ]] || die "/metrics through nginx answered $status"

echo "compose-test: PASSED"
