# One image, three commands: `mailer serve`, `mailer scheduler`, `mailer worker` (docker-compose.yml
# runs one web, one scheduler and two workers; their healthchecks are /healthz and
# `mailer heartbeat scheduler|worker`).
# The image runs in production: it needs MAILER_SECRET_KEY, a relay (MAILER_SMTP__HOST) and
# the public MAILER_BASE_URL at `docker run`, and never serves the development /outbox page. Behind a reverse proxy
# set MAILER_WEB__TRUSTED_PROXIES to the proxy's address (README, "Running in production").
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    MAILER_ENV=production \
    MAILER_CONFIG=/app/config/mailer.toml MAILER_CONFIG_DIR=/app/config \
    MAILER_TEMPLATES_DIR=/app/templates MAILER_DATA_DIR=/app/var
WORKDIR /app

COPY pyproject.toml README.md ./
COPY mailer ./mailer
COPY config ./config
COPY templates ./templates
RUN pip install . && useradd --system --home /app mailer && mkdir -p /app/var && chown mailer /app/var

USER mailer
EXPOSE 8000
CMD ["mailer", "serve", "--host", "0.0.0.0"]
