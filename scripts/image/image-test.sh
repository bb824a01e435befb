#!/usr/bin/env bash
# Smoke-test a built authsvc image without a Docker engine, using buildah's chroot isolation.
#
# Usage: scripts/image/image-test.sh [--image IMAGE] [--postgres auto|require|skip]
#   --image IMAGE   image to test (default localhost/authsvc:dev, as built by build.sh)
#   --postgres ...  the PostgreSQL round: `auto` (default) runs it when a server answers at the
#                   URL below and says SKIPPED otherwise; `require` fails without a server;
#                   `skip` does not run it.
# Env:
#   IMAGE_TEST_PG_URL  default postgresql+psycopg://postgres@127.0.0.1:5432/authsvc_image_test
#                      (the database's name must end in _image_test: it is dropped and
#                      recreated for a clean run; nothing else is ever dropped)
#
# What it checks:
#   * image config: non-root USER 10001, ENTRYPOINT/CMD, HEALTHCHECK, EXPOSE 8000, no secret in
#     the config or the build history;
#   * image content: no .git, no project tests/, no .env, no private key material, no database;
#   * `id -u` inside is 10001;
#   * two rounds (SQLite on a host dir mounted at /data, then PostgreSQL): `authsvc db upgrade`,
#     `authsvc serve` on a free 127.0.0.1 port (chroot isolation shares the host's network, so
#     the host reaches it directly), the server process's uid, GET /healthz, the image's own
#     HEALTHCHECK command, `authsvc users create alice --password-stdin`, then from the host:
#     POST /login (cookie kept) -> GET /session 200 -> POST /logout -> GET /session 401.
# Everything it starts is stopped by process-group id, and its container removed, even on failure.
set -euo pipefail

IMAGE="localhost/authsvc:dev"
PG_MODE=auto
PG_URL="${IMAGE_TEST_PG_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/authsvc_image_test}"
APP_UID=10001

while [[ $# -gt 0 ]]; do
    case "$1" in
        --image) IMAGE="${2:?--image needs a value}"; shift 2 ;;
        --postgres) PG_MODE="${2:?--postgres needs auto|require|skip}"; shift 2 ;;
        -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "image-test: unknown argument: $1" >&2; exit 2 ;;
    esac
done
case "$PG_MODE" in auto|require|skip) ;; *) echo "image-test: bad --postgres $PG_MODE" >&2; exit 2 ;; esac

BUILDAH=(buildah --storage-driver vfs)
STEP="setup"
log() { echo "image-test: $*" >&2; }
die() { echo "image-test: FAILED at [$STEP]: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (buildah vfs storage and chroot isolation need it)"
command -v buildah >/dev/null || die "buildah missing: apt-get install -y buildah"
command -v python3 >/dev/null || die "python3 missing on the host"
"${BUILDAH[@]}" inspect --type image "$IMAGE" >/dev/null 2>&1 \
    || die "image $IMAGE not found in buildah vfs storage (run scripts/image/build.sh)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/authsvc-image-test.XXXXXX")
CTR=""
MOUNTED=0
SERVER_PID=""   # pid (== process-group id, see start_server) of the running `buildah run ... serve`

stop_server() {
    [[ -n "$SERVER_PID" ]] || return 0
    local pid=$SERVER_PID
    SERVER_PID=""
    # The whole process group: buildah, its chroot helper and the server inside.
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 -- "-$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 -- "-$pid" 2>/dev/null; then
        log "server group $pid ignored SIGTERM for 10s; SIGKILL"
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    set +e
    stop_server
    [[ $MOUNTED -eq 1 && -n "$CTR" ]] && "${BUILDAH[@]}" umount "$CTR" >/dev/null 2>&1
    [[ -n "$CTR" ]] && "${BUILDAH[@]}" rm "$CTR" >/dev/null 2>&1
    rm -rf --one-file-system "$WORK"
    if [[ $rc -eq 0 ]]; then log "PASSED"; else log "exit status $rc"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- 1. image configuration ---------------------------------------------------------------------
STEP="image config"
# (this buildah's --format templates have no `json` function: take the whole inspect JSON)
"${BUILDAH[@]}" inspect --type image "$IMAGE" >"$WORK/inspect.json"
python3 - "$WORK/inspect.json" "$APP_UID" <<'PY' || die "image configuration (see above)"
import json, sys
inspect = json.load(open(sys.argv[1]))
cfg = (inspect.get("Docker") or {}).get("config") or {}
history = json.dumps(inspect.get("History") or [])
uid = sys.argv[2]
errors = []
user = cfg.get("User", "")
if user.split(":")[0] not in (uid, "authsvc"):
    errors.append(f"USER is {user!r}, expected {uid}")
if cfg.get("Entrypoint") != ["authsvc"]:
    errors.append(f"ENTRYPOINT is {cfg.get('Entrypoint')!r}")
if cfg.get("Cmd") != ["serve"]:
    errors.append(f"CMD is {cfg.get('Cmd')!r}")
hc = (cfg.get("Healthcheck") or {}).get("Test") or []
if not hc or "/healthz" not in " ".join(hc):
    errors.append(f"no HEALTHCHECK on /healthz (got {hc!r}; was the image built with --format docker?)")
if "8000/tcp" not in (cfg.get("ExposedPorts") or {}):
    errors.append(f"port 8000 not exposed: {cfg.get('ExposedPorts')!r}")
env = dict(e.split("=", 1) for e in cfg.get("Env") or [])
for k in ("AUTHSVC_KEY_ENCRYPTION_SECRET",):
    if k in env:
        errors.append(f"{k} is baked into the image environment")
    if k + "=" in history:
        errors.append(f"{k} appears in the image build history")
want = {"AUTHSVC_DATABASE_URL": "sqlite:////data/authsvc.db", "AUTHSVC_HOST": "0.0.0.0", "AUTHSVC_PORT": "8000"}
for k, v in want.items():
    if env.get(k) != v:
        errors.append(f"ENV {k}={env.get(k)!r}, expected {v!r}")
if "/data" not in (cfg.get("Volumes") or {}):
    errors.append("no VOLUME /data")
for e in errors:
    print("  config: " + e, file=sys.stderr)
sys.exit(1 if errors else 0)
PY
log "image config ok (USER, ENTRYPOINT/CMD, HEALTHCHECK, EXPOSE, ENV, VOLUME; no secret)"

# ---- 2. a working container ---------------------------------------------------------------------
STEP="buildah from"
CTR=$("${BUILDAH[@]}" from --pull-never --name "authsvc-image-test-$$" "$IMAGE")
# buildah run mounts a fresh anonymous volume over every VOLUME of the image, on top of any
# --volume given for the same path, so `--volume DIR:/data` alone would not reach the app.
# Drop the declaration from this throw-away working container (the image keeps it).
"${BUILDAH[@]}" config --volume /data- "$CTR"
log "container $CTR"

# ---- 3. image content -----------------------------------------------------------------------------
STEP="image content"
MNT=$("${BUILDAH[@]}" mount "$CTR")
MOUNTED=1
src_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
python3 - "$MNT" "$src_root" <<'PY' || die "image content (see above)"
import hashlib, os, re, sys
root, src = sys.argv[1], sys.argv[2]
errors = []
# hashes of the project's own test files (big enough not to collide with trivial files)
test_hashes = {}
tdir = os.path.join(src, "tests")
for dp, dns, fns in os.walk(tdir):
    for fn in fns:
        p = os.path.join(dp, fn)
        if os.path.isfile(p) and os.path.getsize(p) >= 200:
            test_hashes[hashlib.sha256(open(p, "rb").read()).hexdigest()] = os.path.relpath(p, src)
key_re = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----\r?\n(?:[A-Za-z0-9-]+:.*\r?\n)*\r?\n?[A-Za-z0-9+/=]{40,}")
skip_top = {"proc", "sys", "dev"}
app_dirs = {"/", "/app", "/src", "/opt/authsvc", "/data"}
for dp, dns, fns in os.walk(root):
    rel = "/" + os.path.relpath(dp, root).lstrip(".").lstrip("/")
    if rel == "/":
        dns[:] = [d for d in dns if d not in skip_top]
    for d in dns:
        if d == ".git":
            errors.append(f"VCS directory {os.path.join(rel, d)}")
        if d == "tests" and rel.rstrip("/") in {a.rstrip("/") for a in app_dirs}:
            errors.append(f"project tests directory {os.path.join(rel, d)}")
    for fn in fns:
        p = os.path.join(dp, fn)
        relp = os.path.join(rel, fn)
        if fn == ".env" or fn.startswith(".env."):
            errors.append(f"env file {relp}")
        if os.path.islink(p) or not os.path.isfile(p):
            continue
        if fn.endswith((".db", ".sqlite", ".sqlite3")) and not relp.startswith("/var/lib/"):
            errors.append(f"database file {relp}")
        size = os.path.getsize(p)
        if size > 20_000_000:
            continue
        data = open(p, "rb").read()
        # ELF objects are skipped: distro libraries embed self-test keys (libgnutls does).
        if not data.startswith(b"\x7fELF") and key_re.search(data):
            errors.append(f"private key material in {relp}")
        if size >= 200 and hashlib.sha256(data).hexdigest() in test_hashes:
            errors.append(f"{relp} is the project's {test_hashes[hashlib.sha256(data).hexdigest()]}")
for e in errors[:50]:
    print("  content: " + e, file=sys.stderr)
sys.exit(1 if errors else 0)
PY
"${BUILDAH[@]}" umount "$CTR" >/dev/null
MOUNTED=0
log "image content ok (no .git, tests/, .env, private keys, databases)"

# ---- helpers -----------------------------------------------------------------------------------
SECRET=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')   # fresh per run, 64 chars
PASSWORD="img-test-$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"

# run a command in the container with the round's environment ($DB_URL, $PORT, $DATA_DIR)
brun() {
    local vol=()
    [[ -n "${DATA_DIR:-}" ]] && vol=(--volume "$DATA_DIR:/data:rw")
    "${BUILDAH[@]}" run --isolation chroot \
        --env "AUTHSVC_KEY_ENCRYPTION_SECRET=$SECRET" \
        --env "AUTHSVC_COOKIE_SECURE=false" \
        --env "AUTHSVC_DATABASE_URL=$DB_URL" \
        --env "AUTHSVC_HOST=127.0.0.1" \
        --env "AUTHSVC_PORT=$PORT" \
        --env "AUTHSVC_ALLOWED_ORIGINS=http://127.0.0.1:$PORT" \
        "${vol[@]}" "$CTR" -- "$@"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start_server() {
    local logf=$1
    # setsid: the server gets its own process group (pgid == $!), so stop_server can end buildah,
    # its chroot helper and the server together by that id.
    setsid "${BUILDAH[@]}" run --isolation chroot \
        --env "AUTHSVC_KEY_ENCRYPTION_SECRET=$SECRET" \
        --env "AUTHSVC_COOKIE_SECURE=false" \
        --env "AUTHSVC_DATABASE_URL=$DB_URL" \
        --env "AUTHSVC_HOST=127.0.0.1" \
        --env "AUTHSVC_PORT=$PORT" \
        --env "AUTHSVC_ALLOWED_ORIGINS=http://127.0.0.1:$PORT" \
        ${DATA_DIR:+--volume "$DATA_DIR:/data:rw"} \
        "$CTR" -- authsvc serve </dev/null >"$logf" 2>&1 &
    SERVER_PID=$!
}

wait_healthy() {
    local logf=$1
    for _ in $(seq 1 120); do
        if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
            "http://127.0.0.1:$PORT/healthz" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            sed 's/^/    server: /' "$logf" >&2
            SERVER_PID=""
            die "the server exited before answering /healthz"
        fi
        sleep 0.5
    done
    sed 's/^/    server: /' "$logf" >&2
    die "no answer from /healthz within 60s"
}

check_server_uid() {
    # Every python process in the server's process group must run as $APP_UID (buildah itself
    # and its chroot helper are root on the host, as expected).
    local p uid exe found=0
    for p in $(pgrep -s "$SERVER_PID" || true); do
        exe=$(readlink "/proc/$p/exe" 2>/dev/null || true)
        [[ "$exe" == *python* ]] || continue
        uid=$(awk '/^Uid:/ { print $3 }' "/proc/$p/status")   # effective uid
        [[ "$uid" == "$APP_UID" ]] || die "server process $p ($exe) runs as uid $uid, not $APP_UID"
        found=1
    done
    [[ $found -eq 1 ]] || die "no python process found in the server's process group $SERVER_PID"
}

http_flow() {
    python3 - "http://127.0.0.1:$PORT" alice "$PASSWORD" <<'PY'
import http.cookiejar, json, sys, urllib.error, urllib.request
base, user, password = sys.argv[1:4]
jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

def call(method, path, body=None, expect=200):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    csrf = [c.value for c in jar if c.name.removeprefix("__Host-") == "authsvc_csrf"]
    if method != "GET" and csrf:
        # What a page of this origin sends with a cookie-authenticated unsafe request.
        req.add_header("Origin", base)
        req.add_header("X-CSRF-Token", csrf[0])
    try:
        resp = opener.open(req, timeout=10)
        status, text, headers = resp.status, resp.read().decode(errors="replace"), resp.headers
    except urllib.error.HTTPError as e:
        status, text, headers = e.code, e.read().decode(errors="replace"), e.headers
    ok = status == expect if isinstance(expect, int) else status in expect
    print(f"    {method} {path} -> {status}", file=sys.stderr)
    if not ok:
        sys.exit(f"{method} {path}: HTTP {status}, expected {expect}: {text[:500]}")
    return status, text, headers

call("GET", "/healthz")
_, _, headers = call("POST", "/login", {"username": user, "password": password})
names = sorted(c.name for c in jar)
if not names:
    sys.exit(f"POST /login set no cookie the client would keep (Set-Cookie: {headers.get_all('Set-Cookie')})")
print(f"    cookies kept: {', '.join(names)}", file=sys.stderr)
_, text, _ = call("GET", "/session")
if user not in text:
    sys.exit(f"GET /session does not name {user}: {text[:300]}")
call("POST", "/logout", expect=(200, 204))
call("GET", "/session", expect=401)
PY
}

# one full round against the database in $DB_URL
run_round() {
    local label=$1 logf="$WORK/server-$1.log"
    PORT=$(free_port)
    log "---- round $label: $DB_URL, port $PORT"

    STEP="$label: authsvc db upgrade"
    brun authsvc db upgrade || die "authsvc db upgrade failed"

    STEP="$label: authsvc serve"
    start_server "$logf"
    wait_healthy "$logf"
    check_server_uid
    log "server up (process group $SERVER_PID), runs as uid $APP_UID"

    STEP="$label: image HEALTHCHECK"
    # Run the HEALTHCHECK command exactly as the image declares it (exec form), in the container.
    mapfile -t hc < <(python3 -c 'import json, sys; t = json.load(open(sys.argv[1]))["Docker"]["config"]["Healthcheck"]["Test"]; print("\n".join(t[1:]))' "$WORK/inspect.json")
    [[ "${hc[0]:-}" != "CMD-SHELL" ]] || hc=(/bin/sh -c "${hc[1]}")
    brun "${hc[@]}" || die "the image's HEALTHCHECK command failed against the running server"

    STEP="$label: authsvc users create"
    printf '%s\n' "$PASSWORD" | brun authsvc users create alice --password-stdin \
        || die "authsvc users create alice --password-stdin failed"

    STEP="$label: login/session/logout"
    http_flow || { sed 's/^/    server: /' "$logf" | tail -n 40 >&2; die "HTTP flow failed"; }

    STEP="$label: stop"
    stop_server
    log "round $label passed"
}

# ---- 4. who runs inside ---------------------------------------------------------------------------
STEP="id -u"
DB_URL="sqlite:////data/authsvc.db" PORT=8000 DATA_DIR=""
inside_uid=$(brun id -u)
[[ "$inside_uid" == "$APP_UID" ]] || die "processes in the container run as uid $inside_uid, not $APP_UID"
log "id -u inside: $inside_uid"

# ---- 5. round 1: SQLite on a mounted /data ---------------------------------------------------------
STEP="sqlite: data dir"
DATA_DIR="$WORK/data"
mkdir -p "$DATA_DIR"
chown "$APP_UID:$APP_UID" "$DATA_DIR"   # the image's /data is owned by the app user; so is ours
DB_URL="sqlite:////data/authsvc.db"
run_round sqlite
[[ -s "$DATA_DIR/authsvc.db" ]] || die "no SQLite database written to the mounted /data"
owner=$(stat -c %u "$DATA_DIR/authsvc.db")
[[ "$owner" == "$APP_UID" ]] || die "/data/authsvc.db is owned by uid $owner, not $APP_UID"

# ---- 6. round 2: PostgreSQL ------------------------------------------------------------------------
STEP="postgres: setup"
DATA_DIR=""
if [[ "$PG_MODE" == skip ]]; then
    log "postgres round SKIPPED (--postgres skip)"
else
    # host, port, user, database out of the SQLAlchemy URL
    read -r PG_HOST PG_PORT PG_USER PG_DB < <(python3 -c '
import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1])
print(p.hostname or "127.0.0.1", p.port or 5432, u.unquote(p.username or "postgres"), p.path.lstrip("/"))' "$PG_URL")
    [[ "$PG_DB" =~ ^[a-z0-9_]+_image_test$ ]] \
        || die "refusing to use database '$PG_DB': its name must end in _image_test (it gets recreated)"
    if ! command -v psql >/dev/null || ! pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 5 2>/dev/null; then
        [[ "$PG_MODE" == require ]] && die "no PostgreSQL server answers at $PG_HOST:$PG_PORT (or psql missing)"
        log "postgres round SKIPPED: no PostgreSQL server at $PG_HOST:$PG_PORT"
    else
        psqlc() { psql -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres "$@"; }
        # Only ever this one database: recreated so each run starts from an empty schema.
        psqlc -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" \
            || die "could not drop the test database $PG_DB"
        psqlc -c "CREATE DATABASE \"$PG_DB\"" || die "could not create the test database $PG_DB"
        DB_URL="$PG_URL"
        run_round postgres
    fi
fi

STEP="done"
size=$("${BUILDAH[@]}" images --format '{{.Size}}' "$IMAGE" | head -n1)
log "image $IMAGE size: $size"
