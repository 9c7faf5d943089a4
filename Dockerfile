# cronwright: one image, two entrypoints — `cronwright operator` and `cronwright api`.
# Built without a Docker engine in this project's CI; issue 7 adds linting and pinning.

FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir "build==1.2.2"
COPY pyproject.toml README.md ./
COPY core ./core
COPY operator ./operator
COPY api ./api
RUN python -m build --wheel --outdir /dist .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=build /dist/*.whl /tmp/
RUN pip install --no-cache-dir /tmp/*.whl && rm /tmp/*.whl \
 && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin cronwright
USER 10001
EXPOSE 8080 8000
# The operator serves /healthz on 8080, the facade on 8000; set CRONWRIGHT_HEALTH_URL for the latter.
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ.get('CRONWRIGHT_HEALTH_URL', 'http://127.0.0.1:8080/healthz'), timeout=2)"]
ENTRYPOINT ["cronwright"]
CMD ["operator", "--host", "0.0.0.0"]
