FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FRESHNESS_DATA_DIR=/data \
    FRESHNESS_HOST=0.0.0.0 \
    FRESHNESS_PORT=8000

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY freshness ./freshness
COPY migrations ./migrations
COPY config ./config
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 freshness \
    && mkdir -p /data && chown freshness:freshness /data

USER freshness
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health')"
CMD ["freshness", "serve"]
