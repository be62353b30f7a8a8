# syntax=docker/dockerfile:1
# Conduit's image: `conduit` as the entrypoint, `conduit serve` on port 8000 by default;
# `worker` and `db upgrade` as the command run the worker and the migrations from the same
# image. docs/operating/deploy.md says how it is built, run and checked.
#
# The base is an argument, so that an image built offline can stand in for the registry's
# (deploy/offline-base-image.sh makes one from Debian's packages). Both stages use it: the
# virtual environment points at the base's interpreter, which must be at the same path in
# the runtime stage.
ARG BASE_IMAGE=python:3.12-slim-bookworm

FROM ${BASE_IMAGE} AS build
# uv from PyPI, pinned to the version the project's lock file is written with.
ARG UV_VERSION=0.13.9
# pip and uv trust the system's certificate bundle. Behind a proxy that re-signs TLS (a
# company's, a sandbox's), pass the build machine's bundle as the build secret
# ca-certificates: it stands in for the image's bundle during the steps that download, and
# is never stored in the image.
#   podman build --secret id=ca-certificates,src=/etc/ssl/certs/ca-certificates.crt ...
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_SYSTEM_CERTS=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON_PREFERENCE=only-system \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN --mount=type=secret,id=ca-certificates,target=/etc/ssl/certs/ca-certificates.crt \
    python3 -m venv /opt/uv \
    && . /opt/uv/bin/activate \
    && pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /app
# The locked dependencies first (without Conduit itself): this layer is rebuilt only when
# pyproject.toml or uv.lock change, not on every change of the code. uv's download cache
# is a cache mount, kept between builds and left out of the image.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=secret,id=ca-certificates,target=/etc/ssl/certs/ca-certificates.crt \
    /opt/uv/bin/uv sync --frozen --no-dev --no-install-project --python python3
COPY src ./src
# Conduit itself (an editable install: the venv refers to /app/src, copied as it is into the
# runtime stage), then its own modules compiled once here, so a start never compiles them.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=secret,id=ca-certificates,target=/etc/ssl/certs/ca-certificates.crt \
    /opt/uv/bin/uv sync --frozen --no-dev --python python3 \
    && /app/.venv/bin/python -m compileall -q /app/src

FROM ${BASE_IMAGE} AS runtime
# A user of its own, with a fixed numeric id (Kubernetes' runAsNonRoot checks the number),
# and the data folder it may write: uploaded images when CONDUIT_STORAGE_URL is unset.
RUN useradd --no-log-init --uid 10001 --user-group --home-dir /nonexistent \
        --no-create-home --shell /usr/sbin/nologin conduit \
    && mkdir -p /var/lib/conduit/media \
    && chown -R conduit:conduit /var/lib/conduit
# The commit the image was built from, shown by conduit_build_info (the image holds no .git):
# docker build --build-arg GIT_SHA="$(git rev-parse HEAD)" .
ARG GIT_SHA=unknown
ENV PATH=/app/.venv/bin:$PATH \
    CONDUIT_GIT_SHA=${GIT_SHA} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CONDUIT_DATA_DIR=/var/lib/conduit \
    CONDUIT_LOG_JSON=true
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY --from=build /app/src /app/src
USER 10001:10001
EXPOSE 8000
# The process answers (no I/O behind /health/live); the Python of the image asks, so no
# curl is needed. Readiness (/health/ready, the database) is the orchestrator's check.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=4)"]
ENTRYPOINT ["conduit"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
