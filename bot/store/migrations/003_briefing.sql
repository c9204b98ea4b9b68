-- The daily explainer: one schedule per server, the rotation, and one claimed post per server
-- and local date (the primary key is what makes a day's post happen at most once).

CREATE TABLE briefing_schedules (
    guild_id        INTEGER PRIMARY KEY,
    channel_id      INTEGER,
    local_time      TEXT    NOT NULL CHECK (local_time GLOB '[0-2][0-9]:[0-5][0-9]'),
    timezone        TEXT    NOT NULL,
    paused_reason   TEXT,
    next_due_utc    TEXT    NOT NULL,
    next_local_date TEXT    NOT NULL,
    next_topic      TEXT,
    updated_at      TEXT    NOT NULL
);

CREATE INDEX briefing_schedules_due ON briefing_schedules (next_due_utc) WHERE paused_reason IS NULL;

CREATE TABLE briefing_rotation (
    guild_id    INTEGER NOT NULL,
    slug        TEXT    NOT NULL,
    shown_on    TEXT    NOT NULL,
    PRIMARY KEY (guild_id, slug)
);

CREATE TABLE briefing_posts (
    guild_id    INTEGER NOT NULL,
    local_date  TEXT    NOT NULL,
    slug        TEXT,
    channel_id  INTEGER,
    nonce       TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('claimed', 'sent', 'failed', 'skipped')),
    claimed_at  TEXT    NOT NULL,
    sent_at     TEXT,
    message_id  INTEGER,
    attempts    INTEGER NOT NULL DEFAULT 0,
    retry_at    TEXT,
    error       TEXT,
    PRIMARY KEY (guild_id, local_date)
);

CREATE INDEX briefing_posts_pending ON briefing_posts (retry_at) WHERE status = 'claimed';
