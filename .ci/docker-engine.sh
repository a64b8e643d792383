#!/usr/bin/env bash
# CI, for `make compose-smoke`: a Docker engine (Debian's docker.io, with BuildKit built in), docker-compose and
# debootstrap (the base image when no registry answers), then dockerd in the background unless one answers.
# Idempotent; any failure prints one line and exits 1. Needs root (CI runs as root); usage: bash .ci/docker-engine.sh
set -euo pipefail

die() { echo "docker-engine: $1" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "run as root (installs packages, starts dockerd)"

pkgs=()
command -v dockerd >/dev/null 2>&1 || pkgs+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || pkgs+=(docker-compose)
command -v debootstrap >/dev/null 2>&1 || pkgs+=(debootstrap)
if ((${#pkgs[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 "${pkgs[@]}" >/dev/null 2>&1 \
        || die "apt-get install ${pkgs[*]} failed"
fi

if ! docker info >/dev/null 2>&1; then
    log=${TMPDIR:-/tmp}/dockerd.log
    nohup dockerd >"$log" 2>&1 &
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || die "dockerd did not answer within 60 s ($(tail -n 1 "$log"))"
fi
echo "docker-engine: $(docker version --format 'engine {{.Server.Version}}' 2>/dev/null) answers"
