# syntax=docker/dockerfile:1
# cronwright: one image, two entrypoints — `cronwright operator` (the default) and
# `cronwright api`. Built without a Docker engine in this project: it is linted with
# hadolint and its required properties are checked by tests/unit/test_dockerfile.py.
#
# Pinned: the base image by tag (this project cannot reach a container registry to
# resolve digests; add @sha256:... where you build), every Python package by version and
# hash (requirements.lock, requirements-build.lock; docs/helm.md says how to renew them).
#
# BASE_IMAGE: any Debian-like image with python3 (3.11, the locks' version), its venv
# module and CA certificates, `python` on PATH and groupadd/useradd. The tests build on a
# Debian base made with mmdebstrap and pass it here (docs/images.md); nothing below names
# an interpreter path, so /usr/local/bin (official image) and /usr/bin (Debian) both work.

ARG BASE_IMAGE=python:3.11.14-slim-trixie

# -- build: the cronwright wheel and a virtualenv of the locked dependencies ----------
FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY requirements-build.lock requirements.lock ./
RUN python -m venv /opt/build \
 && /opt/build/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements-build.lock \
 && python -m venv /opt/cronwright \
 && /opt/cronwright/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY core ./core
COPY operator ./operator
COPY api ./api
COPY kubectl ./kubectl
COPY cli ./cli
# No build isolation: hatchling comes from the hash-checked lock above, not from the index.
RUN /opt/build/bin/pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /dist . \
 && /opt/cronwright/bin/pip install --no-cache-dir --no-deps /dist/cronwright-*.whl \
 && /opt/cronwright/bin/python -m compileall -q /opt/cronwright

# -- runtime: the virtualenv only, run as a numeric non-root user ---------------------
FROM ${BASE_IMAGE}
# Bytecode was compiled at build time; nothing writes outside /tmp, so the container
# runs with a read-only root filesystem (HOME=/tmp for any library that wants a home).
ENV PATH=/opt/cronwright/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
RUN groupadd --gid 10001 cronwright \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin cronwright
COPY --from=build /opt/cronwright /opt/cronwright
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080 8000
# The operator serves /healthz on 8080 (the default); the facade sets
# CRONWRIGHT_HEALTH_URL to its own port (the Helm chart does).
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ.get('CRONWRIGHT_HEALTH_URL', 'http://127.0.0.1:8080/healthz'), timeout=2)"]
ENTRYPOINT ["cronwright"]
CMD ["operator", "--host", "0.0.0.0"]
