#!/usr/bin/env bash
# Builds a local stand-in for python:3.11-slim from Debian's own packages, for a machine that reaches Debian's
# mirror but no image registry (docker pull fails): debootstrap a minimal bookworm (Python 3.11), import it as an
# image. Takes about 6 minutes; needs root (debootstrap) and a running Docker engine.
#   bash docker/base-image.sh [IMAGE]        # default IMAGE: maestro-lstm-base:bookworm
# Then build with --build-arg BASE_IMAGE=IMAGE (make compose-build BASE_IMAGE=IMAGE does).
set -euo pipefail

image=${1:-maestro-lstm-base:bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if "${DOCKER:-docker}" image inspect "$image" >/dev/null 2>&1; then
    echo "base-image: $image already exists (docker rmi $image to rebuild it)"
    exit 0
fi
command -v debootstrap >/dev/null || { echo "base-image: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "base-image: debootstrap needs root" >&2; exit 1; }

root=$(mktemp -d -t maestro-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
# python3-venv: the images install into /opt/venv (Debian's Python refuses pip installs into the system, PEP 668)
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" "$mirror" \
    >"$root.log" 2>&1 || { tail -n 5 "$root.log" >&2; echo "base-image: debootstrap failed (log $root.log)" >&2; exit 1; }
rm -f "$root.log"
# the same sources and apt settings python:3.11-slim has: the main archive, updates and security
cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
tar -C "$root" -c . | "${DOCKER:-docker}" import \
    -c 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["python3"]' - "$image" >/dev/null
echo "base-image: built $image from Debian bookworm ($mirror)"
