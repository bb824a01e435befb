#!/usr/bin/env bash
# Build the authsvc image with buildah (no Docker engine needed) and print build time and size.
#
# Usage: scripts/image/build.sh [--base IMAGE] [--tag TAG] [--context DIR] [--no-cache]
#   --base IMAGE   value for the Dockerfile's BASE_IMAGE build arg (default python:3.12-slim;
#                  on a machine without registry access use localhost/authsvc-base:bookworm,
#                  made by scripts/image/build-base.sh)
#   --tag TAG      image to produce (default localhost/authsvc:dev)
#   --context DIR  build context holding the Dockerfile (default: the repository root)
#   --no-cache     do not reuse cached intermediate layers
# Env BASE_IMAGE / IMAGE_TAG are used as defaults for --base / --tag.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BASE="${BASE_IMAGE:-python:3.12-slim}"
TAG="${IMAGE_TAG:-localhost/authsvc:dev}"
CONTEXT="$(cd "$here/../.." && pwd)"
CACHE=(--layers)

die() { echo "build: ERROR: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --base) BASE="${2:?--base needs a value}"; shift 2 ;;
        --tag) TAG="${2:?--tag needs a value}"; shift 2 ;;
        --context) CONTEXT="${2:?--context needs a value}"; shift 2 ;;
        --no-cache) CACHE=(--layers --no-cache); shift ;;
        -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument: $1" ;;
    esac
done
command -v buildah >/dev/null || die "buildah missing: apt-get install -y buildah"
[[ -f "$CONTEXT/Dockerfile" ]] || die "no Dockerfile in $CONTEXT"

# vfs: works on any filesystem without overlay/fuse support; chroot isolation: no user
# namespaces or runc needed (works inside an unprivileged sandbox as root).
# --format docker: the OCI image format has no HEALTHCHECK field; buildah would drop it.
# --layers: cache intermediate layers, so a source-only change skips the dependency install.
echo "build: $TAG from BASE_IMAGE=$BASE (context $CONTEXT)" >&2
start=$(date +%s)
buildah --storage-driver vfs bud \
    --isolation chroot \
    --format docker \
    "${CACHE[@]}" \
    --build-arg "BASE_IMAGE=$BASE" \
    --file "$CONTEXT/Dockerfile" \
    --tag "$TAG" \
    "$CONTEXT"
elapsed=$(( $(date +%s) - start ))

size=$(buildah --storage-driver vfs images --format '{{.Size}}' "$TAG" | head -n1)
echo "build: image $TAG built in ${elapsed}s, size ${size}"
