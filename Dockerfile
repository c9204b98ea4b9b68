# Briefbot: the Discord bot in a small, non-root image.
#   docker compose up -d --build        (see docker-compose.yml; settings come from .env)
# The SQLite database lives in /data, a volume, so it survives rebuilds. The same image runs on
# PostgreSQL (BRIEFBOT_DB=postgresql://...; `docker compose --profile postgres up -d`): its
# driver, asyncpg, is in the runtime lock.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    BRIEFBOT_DB=/data/briefbot.sqlite3 \
    BRIEFBOT_KNOWLEDGE=/app/knowledge

# tzdata for the OS as well (zoneinfo also finds the Python tzdata package, a dependency);
# a system user with no login shell and no home directory to write to.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 briefbot \
    && useradd --system --uid 10001 --gid briefbot --no-create-home \
        --home-dir /app --shell /usr/sbin/nologin briefbot \
    && mkdir -p /data \
    && chown briefbot:briefbot /data

WORKDIR /app

# The dependencies, in their own layer: it is rebuilt only when the lock changes, not on every
# change to the source. requirements/runtime.lock pins [project] dependencies and the
# `postgres` extra to exact versions with sha256 hashes (`make lock` refreshes it; the test lock
# that CI installs holds the same pins), so the image runs what the tests ran, and pip refuses a
# file whose hash differs. Wheels only: every pinned version has CPython 3.11 wheels for x86_64
# and aarch64 Linux, so nothing is compiled here, and a build backend fetched unpinned can never
# slip in.
COPY requirements/runtime.lock /tmp/runtime.lock
RUN pip install --no-compile --require-hashes --only-binary :all: -r /tmp/runtime.lock \
    && rm /tmp/runtime.lock

# The source last. It runs from /app (PYTHONPATH), not installed, so `python -m bot` works
# from any directory; the migrations are read from bot/store/migrations and
# bot/store/postgres/migrations.
COPY bot ./bot
COPY knowledge ./knowledge

USER briefbot:briefbot
VOLUME ["/data"]

# run_bot closes the gateway and the database cleanly on SIGTERM (docker stop). The
# healthcheck (`python -m bot health`) is set in docker-compose.yml.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot", "run", "--discord"]
