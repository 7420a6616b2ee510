# ses-ramp: one image for worker, events consumer, beat duties and flower; configured only by RAMP_* env.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 ramp
WORKDIR /app
COPY pyproject.toml README.md ./
COPY config ./config
COPY producers ./producers
COPY worker ./worker
# Runtime dependencies only (+ flower for the dashboard service); no test or demo extras.
RUN pip install '.[flower,serve]' && rm -rf /app/build
USER ramp
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
  CMD ramp health worker || exit 1
CMD ["ramp", "worker"]
