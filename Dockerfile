# syntax=docker/dockerfile:1
# facever image: the service runtime only (pyproject's base dependencies; no torch, no training code).
#   docker build -t facever .                                  CPU, on python:3.11-slim
#   docker build --build-arg VARIANT=gpu -t facever:gpu .      CUDA 12 + cuDNN 9, onnxruntime-gpu, faiss-gpu-cu12
#   docker run -p 8000:8000 -v facever-data:/data facever      (GPU: add --gpus all)
# models/ is baked in; docs/operations.md covers configuration, volumes and model mounts.
ARG VARIANT=cpu

FROM python:3.11-slim-bookworm AS base-cpu

FROM nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04 AS base-gpu
# Ubuntu 22.04 is the newest CUDA base that packages Python 3.11, which the project requires;
# apt versions are left to the base image's release so security updates come with a rebuild.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
    && rm -rf /var/lib/apt/lists/* \
    && ln -s /usr/bin/python3.11 /usr/local/bin/python
ENV FACEVER_DEVICE=cuda NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility

# hadolint ignore=DL3006
FROM base-${VARIANT} AS builder
ARG VARIANT
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /app
COPY pyproject.toml README.md ./
# Dependencies only, against a stub package, so editing the code does not reinstall them. The install is
# editable because service/config.py finds migrations/ and models/ beside the package (REPO_ROOT = /app).
# GPU: onnxruntime/onnxruntime-gpu and faiss-cpu/faiss-gpu-cu12 share module folders, so the CPU builds are
# removed and the GPU builds reinstalled at the versions just resolved, leaving their files complete.
# Versions come from pyproject.toml's ranges; the GPU builds are reinstalled pinned (==) as resolved.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3013
RUN mkdir service && touch service/__init__.py \
    && if [ "${VARIANT}" = gpu ]; then \
        pip install -e '.[gpu]' \
        && mapfile -t gpu_builds < <(pip freeze | grep -E '^(onnxruntime-gpu|faiss-gpu-cu12)==') \
        && pip uninstall -y onnxruntime faiss-cpu \
        && pip install --force-reinstall --no-deps "${gpu_builds[@]}"; \
    else pip install -e .; fi

# hadolint ignore=DL3006
FROM base-${VARIANT} AS runtime
RUN useradd --system --uid 10001 --user-group --no-create-home facever \
    && mkdir /data && chown facever:facever /data
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY service/ service/
COPY migrations/ migrations/
COPY docker/ docker/
# The detector is committed; the embedder is baked in when models/<embedder>/ is in the build context,
# else mount a models folder over /app/models read-only (docker/preflight.py says so at start).
COPY models/ models/
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FACEVER_DATABASE_URL=sqlite:////data/facever.db \
    HOST=0.0.0.0 \
    PORT=8000 \
    WORKERS=1
VOLUME ["/data"]
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/v1/health' % os.environ['PORT'], timeout=4)"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["serve"]
