# One image for every process of the Procfile: `docker run IMAGE web` (the default),
# `worker`, `beat` or `release`; bin/procfile runs that Procfile line. compose.yaml
# runs them all with PostgreSQL and Redis.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    APP_ENV=production \
    PORT=8000

WORKDIR /app
# What production runs and nothing else (no test tools), in a layer rebuilt only
# when requirements.txt changes.
COPY requirements.txt ./
RUN pip install -r requirements.txt

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin app
COPY . .
# The code stays root's, read-only to the app; var/ (beat's schedule file) is its own.
RUN mkdir -p var && chown app:app var
USER app

EXPOSE 8000
ENTRYPOINT ["bin/procfile"]
CMD ["web"]
