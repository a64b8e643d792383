# A Prefect process worker for one GPU: runs `study/sweep` and `trial/run` flows in subprocesses of this container.
#
# Base: python:3.11-slim + torch's CUDA wheel, rather than pytorch/pytorch:*-cuda*-runtime, because
#   - the project needs Python >= 3.11, and the official PyTorch images choose their own Python (conda) per release;
#   - the CUDA wheel carries its CUDA/cuDNN libraries (nvidia-* wheels), so the host only needs the NVIDIA driver
#     and the NVIDIA Container Toolkit; the image is a plain pip environment like the one developers use.
# Pick the CUDA flavour that the host driver supports (cu126, cu128, ...) and optionally pin torch:
#   docker compose build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126 --build-arg TORCH_SPEC=torch==2.9.1
FROM python:3.11-slim

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
ARG TORCH_SPEC=torch

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MAESTRO_LSTM_HOME=/data

# torch first, from the CUDA index: `pip install -e .` below then finds torch>=2.4 satisfied and keeps this build.
RUN pip install "${TORCH_SPEC}" --index-url "${TORCH_INDEX_URL}"

WORKDIR /app
# Only what the flows need; README.md* is optional (pyproject's readme), the glob keeps COPY from failing without it.
COPY pyproject.toml README.md* ./
COPY lstm/ lstm/
COPY flows/ flows/
COPY studies/ studies/
# Editable, so that flows.settings.REPO is /app and studies/*.yaml resolve next to the code, whatever the cwd.
RUN pip install -e ".[flows]" \
    && python -c "import torch, lstm, prefect, optuna, mlflow; print('torch', torch.__version__, 'cuda', torch.version.cuda)"

# Run unprivileged. /data (MAESTRO_LSTM_HOME: prepared data and study state) belongs to this user, so a named volume
# mounted there starts out writable; for a bind/NFS mount, give uid 1000 write access on the host.
RUN useradd --uid 1000 --create-home --shell /usr/sbin/nologin app \
    && mkdir -p /data \
    && chown app:app /data
USER app

# Deployments registered by flows/deploy.py run from this working directory (/app).
CMD ["prefect", "worker", "start", "--pool", "gpu", "--type", "process"]
