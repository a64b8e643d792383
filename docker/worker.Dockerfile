# The project's image: Prefect workers (sweeps on pool `cpu`, trials on pool `gpu`), and the Prefect and MLflow
# servers of docker/compose.yaml, which run the same prefect and mlflow releases as the workers that call them.
#
# Build arguments:
#   BASE_IMAGE       python:3.11-slim, or a local stand-in where no registry is reachable (docker/base-image.sh)
#   TORCH            cuda (GPU workers) or cpu (CPU-only machines, `make compose-smoke`)
#   TORCH_VERSION    the torch release (the same as the developers' venv)
#   TORCH_INDEX_URL  where that flavour's wheel comes from; default: download.pytorch.org's cu128 or cpu index.
#                    A torch wheel placed in docker/wheels/ (git-ignored) wins over any index: `make compose-build`
#                    puts the one the host's pip finds there for the cpu flavour (PyPI's Linux torch is the CUDA one)
# Build secret:
#   ca-bundle        a CA bundle that pip and apt trust (a TLS-intercepting proxy's CA): the host's system bundle,
#                    --secret id=ca-bundle,src=/etc/ssl/certs/ca-certificates.crt; never stored in the image
# Needs BuildKit (RUN --mount): Docker >= 23 with buildx, or DOCKER_BUILDKIT=1 with Docker 20.10.
#
# python:3.11-slim + torch's wheel rather than pytorch/pytorch:*-cuda*: the CUDA wheel carries its CUDA/cuDNN
# libraries, so the host needs only the NVIDIA driver and Container Toolkit, and the Python is the project's 3.11.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ARG TORCH=cuda
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    MAESTRO_LSTM_HOME=/data

# FluidSynth and the General MIDI soundfont: trials render their generated MIDI to audio when these are present.
RUN --mount=type=secret,id=ca-bundle \
    set -e; ca=/run/secrets/ca-bundle; \
    if [ -s "$ca" ]; then set -- -o "Acquire::https::CAInfo=$ca"; fi; \
    apt-get "$@" update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get "$@" install -y -qq --no-install-recommends \
        fluidsynth fluid-soundfont-gm >/dev/null \
    && rm -rf /var/lib/apt/lists/*

# A virtual environment: the same layout on python:3.11-slim and on Debian's Python (which refuses system-wide pip
# installs, PEP 668). torch first, so that installing the project finds torch satisfied and keeps this flavour.
RUN --mount=type=secret,id=ca-bundle --mount=type=bind,source=docker/wheels,target=/wheels \
    set -e; \
    if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi; \
    case "$TORCH" in \
        cuda) index=${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cu128} ;; \
        cpu) index=${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu} ;; \
        *) echo "TORCH must be cuda or cpu, not '$TORCH'" >&2; exit 1 ;; \
    esac; \
    python3 -m venv "$VIRTUAL_ENV"; \
    if ls /wheels/torch-"$TORCH_VERSION"*.whl >/dev/null 2>&1; then \
        pip install -q --find-links /wheels "torch==$TORCH_VERSION"; \
    else \
        pip install -q "torch==$TORCH_VERSION" --index-url "$index" --extra-index-url https://pypi.org/simple; \
    fi; \
    python -c "import sys, torch; cuda = torch.version.cuda; print('torch', torch.__version__, 'cuda', cuda); \
sys.exit(f'TORCH={sys.argv[1]} but this torch is built for CUDA {cuda}' if (sys.argv[1] == 'cpu') == bool(cuda) else 0)" "$TORCH"

WORKDIR /app
# The dependencies first, from pyproject.toml alone, so that editing the code rebuilds only the last, quick layer.
COPY pyproject.toml ./
RUN --mount=type=secret,id=ca-bundle \
    if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi; \
    python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['flows']))" >/tmp/requirements.txt \
    && pip install -q -r /tmp/requirements.txt && rm /tmp/requirements.txt
# Only what the flows need; README.md* is optional (pyproject's readme), the glob keeps COPY from failing without it.
COPY README.md* ./
COPY lstm/ lstm/
COPY flows/ flows/
COPY studies/ studies/
# Editable, so that flows.settings.REPO is /app and studies/*.yaml resolve next to the code, whatever the cwd.
RUN --mount=type=secret,id=ca-bundle \
    if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi; \
    pip install -q --no-deps -e . \
    && python -c "import lstm, flows, prefect, optuna, mlflow, psycopg2, asyncpg; print('prefect', prefect.__version__, 'mlflow', mlflow.__version__)"

# Run unprivileged. /data (MAESTRO_LSTM_HOME), /mlartifacts (the MLflow server's artifacts) and /mlflow-auth (its
# user database) belong to this user, so named volumes mounted there start out writable; for a bind/NFS mount,
# give uid 1000 write access on the host.
RUN useradd --uid 1000 --create-home --shell /usr/sbin/nologin app \
    && mkdir -p /data /mlartifacts /mlflow-auth \
    && chown app:app /data /mlartifacts /mlflow-auth
USER app

# Deployments registered by flows/ops/deploy.py run from this working directory (/app).
CMD ["prefect", "worker", "start", "--pool", "gpu", "--type", "process", "--limit", "1"]
