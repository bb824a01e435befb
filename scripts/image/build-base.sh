#!/usr/bin/env bash
# Build (once) a local Debian bookworm base image for the authsvc Dockerfile and cache it
# in buildah's vfs storage as localhost/authsvc-base:bookworm.
#
# Why: this machine cannot pull python:3.12-slim (no container registry is reachable), but it
# can reach Debian's package mirror and PyPI. debootstrap gives us a minimal Debian with
# python3 (3.11 on bookworm), venv and pip, which the Dockerfile accepts via
#   --build-arg BASE_IMAGE=localhost/authsvc-base:bookworm
#
# Usage: scripts/image/build-base.sh [--force]
#   --force          rebuild even if the image already exists
# Env:
#   BASE_IMAGE_NAME  image name to produce (default localhost/authsvc-base:bookworm)
#   DEBIAN_SUITE     debian suite (default bookworm)
#   DEBIAN_MIRROR    override the mirror (default: taken from the host's apt sources)
# Needs root, debootstrap and buildah (apt-get install -y buildah debootstrap).
set -euo pipefail

IMAGE="${BASE_IMAGE_NAME:-localhost/authsvc-base:bookworm}"
SUITE="${DEBIAN_SUITE:-bookworm}"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

# Same storage flags as build.sh / image-test.sh, so all three see the same image store.
BUILDAH=(buildah --storage-driver vfs)

die() { echo "build-base: ERROR: $*" >&2; exit 1; }
log() { echo "build-base: $*" >&2; }

[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap and buildah vfs storage need it)"
command -v debootstrap >/dev/null || die "debootstrap missing: apt-get install -y debootstrap"
command -v buildah >/dev/null || die "buildah missing: apt-get install -y buildah"

# ---- cache: skip if the image already exists --------------------------------------------------
if [[ $FORCE -eq 0 ]] && "${BUILDAH[@]}" inspect --type image "$IMAGE" >/dev/null 2>&1; then
    log "$IMAGE already exists in vfs storage; nothing to do (use --force to rebuild)"
    exit 0
fi

# ---- find the Debian mirror the host's apt uses (no hardcoded URL) ----------------------------
find_mirror() {
    local f uri
    # deb822 *.sources files: "URIs: <url>" in a stanza whose Suites include $SUITE.
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f "$f" ]] || continue
        uri=$(awk -v suite="$SUITE" '
            BEGIN { RS=""; FS="\n" }          # one record per stanza
            {
              u=""; s=""; t="";
              for (i=1;i<=NF;i++) {
                if ($i ~ /^URIs:/)   { u=$i; sub(/^URIs:[ \t]*/, "", u) }
                if ($i ~ /^Suites:/) { s=" " $i " " }
                if ($i ~ /^Types:/)  { t=$i }
              }
              if (t ~ /deb( |$)/ && s ~ (" " suite " ") && u ~ /debian\/?$/) { split(u, a, " "); print a[1]; exit }
            }' "$f")
        [[ -n "$uri" ]] && { echo "$uri"; return 0; }
    done
    # one-line format: "deb [opts] <url> <suite> <components>"
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f "$f" ]] || continue
        uri=$(sed -E 's/\[[^]]*\]//' "$f" | awk -v suite="$SUITE" \
            '$1=="deb" && $3==suite && $2 ~ /debian\/?$/ { print $2; exit }')
        [[ -n "$uri" ]] && { echo "$uri"; return 0; }
    done
    return 1
}
MIRROR="${DEBIAN_MIRROR:-$(find_mirror || true)}"
[[ -n "$MIRROR" ]] || die "no Debian mirror for '$SUITE' found in /etc/apt/sources.list(.d); set DEBIAN_MIRROR"
log "mirror: $MIRROR (suite $SUITE)"

HOST_CA=/etc/ssl/certs/ca-certificates.crt
[[ -s "$HOST_CA" ]] || die "host CA bundle $HOST_CA missing"

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/authsvc-base.XXXXXX")
CTR=""
cleanup() {
    if [[ -n "$CTR" ]]; then "${BUILDAH[@]}" rm "$CTR" >/dev/null 2>&1 || true; fi
    rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
ROOTFS="$WORK/rootfs"

# ---- debootstrap -------------------------------------------------------------------------------
# minbase = essential + apt only; we add exactly what the Dockerfile needs:
#   python3 (3.11 on bookworm), python3-venv (ensurepip for `python3 -m venv`), python3-pip,
#   ca-certificates.
log "debootstrap into $ROOTFS (takes a few minutes)"
start=$(date +%s)
debootstrap --variant=minbase \
    --include=python3,python3-venv,python3-pip,ca-certificates \
    "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -n 40 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
log "debootstrap done in $(( $(date +%s) - start ))s"

# ---- trust and pip configuration ----------------------------------------------------------------
# The host reaches PyPI through a TLS path that needs the host's CA bundle, so the image gets the
# host bundle (replacing Debian's generated one, which lacks any host-local CA) and pip is pointed
# at it via /etc/pip.conf (pip reads /etc/pip.conf as its global config; PIP_CONFIG_FILE is also
# set in the image so a venv's pip finds it whatever its prefix).
install -m 0644 "$HOST_CA" "$ROOTFS/etc/ssl/certs/ca-certificates.crt"

# Reproduce the host's pip index configuration, except for entries that point at the host's
# local disk (file:// indexes, local find-links dirs): they do not exist inside the image.
# On this machine those are /opt/pypi*, /opt/wheels (a torch wheel) -- not needed by authsvc;
# its dependencies come from PyPI, which the host also reaches directly.
pip_get() { python3 -m pip config get "$1" 2>/dev/null || true; }
keep_remote() { tr ' ' '\n' | grep -E '^https?://' | paste -sd' ' - || true; }
HOST_INDEX=$(pip_get global.index-url | keep_remote)
HOST_EXTRA=$(pip_get global.extra-index-url | keep_remote)
HOST_TRUSTED=$(pip_get global.trusted-host)
HOST_TIMEOUT="${PIP_DEFAULT_TIMEOUT:-$(pip_get global.default-timeout)}"
{
    echo "# written by scripts/image/build-base.sh"
    echo "[global]"
    echo "cert = /etc/ssl/certs/ca-certificates.crt"
    [[ -n "$HOST_INDEX" ]]   && echo "index-url = $HOST_INDEX"
    [[ -n "$HOST_EXTRA" ]]   && echo "extra-index-url = $HOST_EXTRA"
    [[ -n "$HOST_TRUSTED" ]] && echo "trusted-host = $HOST_TRUSTED"
    [[ -n "$HOST_TIMEOUT" ]] && echo "timeout = $HOST_TIMEOUT"
    echo "disable-pip-version-check = true"
} >"$ROOTFS/etc/pip.conf"
log "image /etc/pip.conf:"; sed 's/^/    /' "$ROOTFS/etc/pip.conf" >&2

# ---- slim down -----------------------------------------------------------------------------------
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* \
       "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* \
       "$ROOTFS"/var/log/*.log "$ROOTFS"/var/log/apt/* "$ROOTFS"/tmp/* 2>/dev/null || true
# debootstrap leaves the host's resolv.conf/hostname; buildah run provides its own.
: >"$ROOTFS/etc/resolv.conf"
echo authsvc >"$ROOTFS/etc/hostname"

# sanity: the interpreter and venv module work inside the tree
chroot "$ROOTFS" /usr/bin/python3 -c 'import ensurepip, venv, ssl, sys; print(sys.version)' >&2 \
    || die "python3 in the new rootfs is broken"

# ---- import into buildah -------------------------------------------------------------------------
# `buildah from scratch` + `buildah add` of a tarball keeps ownership, modes and device-less /dev.
log "importing into buildah"
tar -C "$ROOTFS" --numeric-owner -cf "$WORK/rootfs.tar" .
CTR=$("${BUILDAH[@]}" from scratch)
"${BUILDAH[@]}" add "$CTR" "$WORK/rootfs.tar" / >/dev/null
"${BUILDAH[@]}" config \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 \
    --env PIP_CONFIG_FILE=/etc/pip.conf \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --cmd /usr/bin/python3 \
    --os linux --arch "$(dpkg --print-architecture)" \
    --label org.opencontainers.image.description="Debian $SUITE minbase + python3 (authsvc local base)" \
    "$CTR"
"${BUILDAH[@]}" commit --rm --format docker "$CTR" "$IMAGE" >/dev/null
CTR=""
log "committed $IMAGE"
"${BUILDAH[@]}" images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$IMAGE" >&2
