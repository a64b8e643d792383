#!/usr/bin/env bash
# Installs the system packages CI needs, only those that are missing (idempotent, quiet):
#   - a PostgreSQL server (initdb/pg_ctl/postgres) for tests/pg.py      -> postgresql-15 (or postgresql)
#   - a compose CLI that can run `config` without a Docker engine        -> Debian's docker-compose (1.29, v1)
#   - FluidSynth and a General MIDI soundfont, so the audio tests run     -> fluidsynth fluid-soundfont-gm
# `apt-get update` runs once, and only when something is missing. Any failure prints one line and exits 1.
# Needs root (CI runs as root); usage: bash .ci/install-system-deps.sh
set -euo pipefail

log=$(mktemp -t install-system-deps.XXXXXX)
trap 'rm -f "$log"' EXIT

die() {
    local last
    last=$(grep -v '^\s*$' "$log" 2>/dev/null | tail -n 1 || true)
    echo "install-system-deps: $1${last:+ (apt: $last)}" >&2
    exit 1
}

have_postgres() {
    local d
    if command -v pg_config >/dev/null 2>&1; then
        d=$(pg_config --bindir 2>/dev/null || true)
        [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" ]] && return 0
    fi
    for d in /usr/lib/postgresql/*/bin; do
        [[ -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" ]] && return 0
    done
    command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1
}

have_compose() {
    command -v docker-compose >/dev/null 2>&1 && docker-compose version >/dev/null 2>&1 && return 0
    command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1
}

have_audio() {
    # the soundfont path is the first of lstm/music/audio.py's SOUNDFONT_PATHS
    command -v fluidsynth >/dev/null 2>&1 && [[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ]]
}

missing=()
have_postgres || missing+=(postgres)
have_compose || missing+=(compose)
have_audio || missing+=(audio)
((${#missing[@]} == 0)) && exit 0

command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and apt-get is not available"
[[ $(id -u) -eq 0 ]] || die "missing ${missing[*]}; run as root to install them with apt-get"

export DEBIAN_FRONTEND=noninteractive
apt_install() {
    apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 "$@" >"$log" 2>&1
}

apt-get update -qq >"$log" 2>&1 || die "apt-get update failed"

pkgs=()
for m in "${missing[@]}"; do
    case $m in
        postgres)
            if apt-cache show postgresql-15 >/dev/null 2>&1; then pkgs+=(postgresql-15); else pkgs+=(postgresql); fi ;;
        compose)
            # Debian 12's docker-compose is the Python v1 (1.29.2): `docker-compose config` validates and renders
            # a compose file without a daemon. --no-install-recommends keeps docker.io (the engine) out.
            pkgs+=(docker-compose) ;;
        audio)
            # FluidSynth writes Ogg Vorbis and FLAC itself (libsndfile); the soundfont is FluidR3_GM.sf2.
            pkgs+=(fluidsynth fluid-soundfont-gm) ;;
    esac
done

apt_install "${pkgs[@]}" || die "apt-get install ${pkgs[*]} failed"

have_postgres || die "PostgreSQL server binaries still not found after installing ${pkgs[*]}"
have_compose || die "docker-compose still not usable after installing ${pkgs[*]}"
have_audio || die "fluidsynth or FluidR3_GM.sf2 still not found after installing ${pkgs[*]}"
echo "install-system-deps: installed ${pkgs[*]}"
