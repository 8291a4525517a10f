# One image for every visionops stage, the model server and the scheduler.
#
#   scripts/build-image.sh               # or: make image  (fills build/wheelhouse/ first)
#
#   docker run --rm --user "$(id -u):$(id -g)" \
#       -v "$PWD/data:/project/data" -v "$PWD/registry:/project/registry" \
#       visionops:latest kedro run --pipelines training
#   docker run -d --user "$(id -u):$(id -g)" -p 8501:8501 \
#       -v "$PWD/registry:/project/registry:ro" visionops:latest visionops serve --host 0.0.0.0
#   docker run --rm ... visionops:latest visionops schedule --once
#
# The project (pyproject.toml, conf/, src/, params.yaml, dvc.lock) lives in /project,
# the working directory, so `kedro run` finds it by pyproject.toml's [tool.kedro] as it
# does on the host. data/ and registry/ are not in the image: bind-mount the host's at
# /project/data and /project/registry. With --user set to the host user, what a stage
# writes there belongs to that user; HOME is writable by any uid, so tools that keep
# state in ~ work whatever the uid. The default user is visionops (uid 1000).
#
# Dependencies are installed with `pip --no-index` from build/wheelhouse/ (one wheel per
# line of requirements.lock, made on the host by scripts/wheelhouse.sh, which checks every
# downloaded file against the lock's sha256), so the build needs no network, no index
# and no CA: it runs with `docker build --network none`.
#
# Base image. BASE_IMAGE is any Debian-like image whose `python3` is CPython 3.11 with
# the venv module: python:3.11-slim by default; scripts/base-image.sh builds
# visionops-base:bookworm (debootstrap, Debian 12's Python 3.11) where no registry is
# reachable. GPU variant:
#   docker build --build-arg BASE_IMAGE=tensorflow/tensorflow:2.21.0-gpu -t visionops:gpu .
#   docker run --gpus all ...
# What changes: the base brings CUDA, cuDNN and its own Python (it must be 3.11: the
# build stops at once otherwise); the lock installs the same TensorFlow 2.21 wheel into
# /opt/venv, which is to load the base's CUDA libraries; `--gpus` needs the NVIDIA
# container toolkit on the host; training picks mixed_float16 on the GPU by itself
# (training.precision: auto); the image grows by several GB. Untested: no registry and
# no GPU engine were reachable where this file was written. Check with
#   docker run --gpus all visionops:gpu python -c \
#       "import tensorflow as tf; print(tf.config.list_physical_devices('GPU'))"
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS builder
ENV PIP_NO_INDEX=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python3 -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
    && python3 -m venv /opt/venv
COPY build/wheelhouse/ /tmp/wheelhouse/
RUN /opt/venv/bin/pip install --quiet --find-links /tmp/wheelhouse --no-deps \
        -r /tmp/wheelhouse/build-requirements.txt -r /tmp/wheelhouse/requirements.txt \
    && /opt/venv/bin/pip check

FROM ${BASE_IMAGE} AS runtime
ARG UID=1000
ARG GID=1000
# (Some bases, e.g. Ubuntu 24.04's, already have a user with uid 1000: it gives way.)
RUN if command -v useradd >/dev/null; then \
        existing=$(getent passwd "${UID}" | cut -d: -f1) \
        && if [ -n "$existing" ]; then userdel "$existing"; fi \
        && if getent group "${GID}" >/dev/null; then groupdel "$(getent group "${GID}" | cut -d: -f1)"; fi \
        && groupadd --gid "${GID}" visionops \
        && useradd --uid "${UID}" --gid "${GID}" --home-dir /home/visionops \
            --no-create-home --shell /bin/sh visionops; \
    else \
        echo "visionops:x:${GID}:" >>/etc/group \
        && echo "visionops:x:${UID}:${GID}:visionops:/home/visionops:/bin/sh" >>/etc/passwd; \
    fi \
    && mkdir -p /home/visionops \
    && chmod 1777 /home/visionops
# The dependencies only: this layer stays cached while the project's code changes.
COPY --from=builder /opt/venv /opt/venv
WORKDIR /project
COPY pyproject.toml README.md requirements.lock params.yaml dvc.yaml dvc.lock ./
COPY conf/ conf/
COPY src/ src/
# Editable, so the package is /project/src, which Kedro puts on sys.path too: one copy.
RUN /opt/venv/bin/pip install --quiet --no-index --no-deps --no-build-isolation -e . \
    && /opt/venv/bin/python -m compileall -q src
# A DVC repository without git (core.no_scm), for `visionops schedule`, which retrains
# with `dvc repro`. Mount a volume at /project/.dvc/cache to keep DVC's cache.
# The mount points, the DVC files and /project itself are writable by any uid, so
# that the image runs as any user, with or without mounts. conf/local too: with no
# VISIONOPS_SIGNING_KEY given, a registration makes a key there (one per container).
RUN /opt/venv/bin/dvc init --no-scm --quiet \
    && /opt/venv/bin/dvc config core.analytics false \
    && /opt/venv/bin/dvc config core.check_update false \
    && mkdir -p conf/local registry .dvc/cache \
        data/01_raw data/02_intermediate data/03_primary data/04_feature \
        data/05_model_input data/06_models data/07_model_output data/08_reporting \
    && chmod -R a+rwX data registry .dvc conf/local \
    && chmod a+w . dvc.lock params.yaml
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/home/visionops \
    PYTHONUNBUFFERED=1 \
    MPLBACKEND=Agg \
    KEDRO_DISABLE_TELEMETRY=true \
    DO_NOT_TRACK=1 \
    DVC_NO_ANALYTICS=1 \
    GX_ANALYTICS_ENABLED=false \
    TF_CPP_MIN_LOG_LEVEL=2
USER ${UID}:${GID}
# For `visionops serve` (REST on 8501, gRPC on 8500): healthy once a model version is loaded. One-shot
# stage containers run with --no-healthcheck (the generated specs disable it).
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/healthz', timeout=4)"]
EXPOSE 8501 8500
CMD ["kedro", "run"]
