#!/usr/bin/env bash
# Builds the stack's images (what `make compose-build` runs):
#   MAESTRO_IMAGE   docker/worker.Dockerfile, flavour TORCH=cuda|cpu        (default maestro-lstm:$TORCH)
#   POSTGRES_IMAGE  postgres:15 when it can be pulled, else built from docker/postgres.Dockerfile
# on BASE_IMAGE (python:3.11-slim; where no registry answers, a local Debian base from docker/base-image.sh).
# CA_BUNDLE (the host's system bundle by default) goes to the build as a BuildKit secret, for pip and apt behind a
# TLS-intercepting proxy. For TORCH=cpu the torch wheel is the one the host's pip finds (its own find-links or
# mirror first, then PyTorch's CPU index), put in docker/wheels/: PyPI's Linux torch is the CUDA build (GBs).
# With IMAGES_ENV=FILE, writes the chosen MAESTRO_IMAGE and POSTGRES_IMAGE there (for docker/smoke.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH=${TORCH:-cuda}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
DEFAULT_BASE=python:3.11-slim
BASE_IMAGE=${BASE_IMAGE:-$DEFAULT_BASE}
LOCAL_BASE=maestro-lstm-base:bookworm
POSTGRES_IMAGE=${POSTGRES_IMAGE:-postgres:15}
MAESTRO_IMAGE=${MAESTRO_IMAGE:-maestro-lstm:$TORCH}
CA_BUNDLE=${CA_BUNDLE-/etc/ssl/certs/ca-certificates.crt}
PIP=${PIP:-python3 -m pip}

die() { echo "images: $*" >&2; exit 1; }
say() { echo "images: $*"; }

# A docker client that builds with BuildKit (RUN --mount): with buildx, or Docker 20.10's built-in BuildKit.
pick_docker() {
    local d
    for d in ${DOCKER:-} $(type -ap docker); do
        if DOCKER_BUILDKIT=1 "$d" build --help >/dev/null 2>&1; then echo "$d"; return; fi
    done
    die "no docker client here builds with BuildKit: install docker-buildx (or set DOCKER=/path/to/docker)"
}
DOCKER=$(pick_docker)
"$DOCKER" info >/dev/null 2>&1 || die "no Docker engine answers ($DOCKER info failed): start dockerd"

# present locally, or pulled now
have_image() { "$DOCKER" image inspect "$1" >/dev/null 2>&1 || "$DOCKER" pull -q "$1" >/dev/null 2>&1; }

if ! have_image "$BASE_IMAGE"; then
    [[ $BASE_IMAGE == "$DEFAULT_BASE" ]] || die "base image $BASE_IMAGE is neither here nor pullable"
    say "$BASE_IMAGE cannot be pulled (no registry?): using $LOCAL_BASE, Debian's packages (docker/base-image.sh)"
    "$DOCKER" image inspect "$LOCAL_BASE" >/dev/null 2>&1 || DOCKER=$DOCKER bash docker/base-image.sh "$LOCAL_BASE"
    BASE_IMAGE=$LOCAL_BASE
fi

secret=()
if [[ -n $CA_BUNDLE ]]; then
    [[ -s $CA_BUNDLE ]] || die "CA_BUNDLE $CA_BUNDLE is not a readable file (CA_BUNDLE= to build without one)"
    secret=(--secret "id=ca-bundle,src=$CA_BUNDLE")
fi
build() {  # build IMAGE DOCKERFILE CONTEXT [ARGS...]
    local image=$1 file=$2 context=$3
    shift 3
    say "building $image ($file on $BASE_IMAGE)"
    DOCKER_BUILDKIT=1 "$DOCKER" build -q -f "$file" -t "$image" --build-arg "BASE_IMAGE=$BASE_IMAGE" \
        "${secret[@]}" "$@" "$context" >/dev/null || die "building $image failed (rerun without -q to see why)"
}

if [[ $TORCH == cpu ]] && ! ls docker/wheels/torch-"$TORCH_VERSION"+cpu*.whl >/dev/null 2>&1; then
    say "fetching torch==$TORCH_VERSION (CPU) with the host's pip into docker/wheels/"
    $PIP download -q --no-deps -d docker/wheels --no-index "torch==$TORCH_VERSION" 2>/dev/null \
        || $PIP download -q --no-deps -d docker/wheels --index-url https://download.pytorch.org/whl/cpu \
            "torch==$TORCH_VERSION" || die "the host's pip finds no torch==$TORCH_VERSION"
    ls docker/wheels/torch-"$TORCH_VERSION"+cpu*.whl >/dev/null 2>&1 \
        || { rm -f docker/wheels/torch-*.whl; die "the host's pip found torch==$TORCH_VERSION, but not its CPU build"; }
fi
build "$MAESTRO_IMAGE" docker/worker.Dockerfile . --build-arg "TORCH=$TORCH" --build-arg "TORCH_VERSION=$TORCH_VERSION" \
    ${TORCH_INDEX_URL:+--build-arg "TORCH_INDEX_URL=$TORCH_INDEX_URL"}

if ! have_image "$POSTGRES_IMAGE"; then
    [[ $POSTGRES_IMAGE == postgres:15 ]] || die "$POSTGRES_IMAGE is neither here nor pullable"
    POSTGRES_IMAGE=maestro-lstm-postgres:15
    build "$POSTGRES_IMAGE" docker/postgres.Dockerfile docker
fi
say "MAESTRO_IMAGE=$MAESTRO_IMAGE POSTGRES_IMAGE=$POSTGRES_IMAGE"
if [[ -n ${IMAGES_ENV:-} ]]; then
    printf 'MAESTRO_IMAGE=%s\nPOSTGRES_IMAGE=%s\nDOCKER=%s\n' "$MAESTRO_IMAGE" "$POSTGRES_IMAGE" "$DOCKER" >"$IMAGES_ENV"
fi
