-- Members following a topic in one server, and one row per DM each change of its text owes.
-- A follow names a topic by slug in its server: it follows whatever that server sees under the
-- slug (the curated text, or the server's own copy once it has one).

CREATE TABLE follows (
    id          INTEGER PRIMARY KEY,
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    slug        TEXT    NOT NULL CHECK (length(slug) BETWEEN 1 AND 64),
    created_at  TEXT    NOT NULL,
    -- The newest revision when the member followed: older changes are never sent to them.
    since       INTEGER NOT NULL,
    -- DMs refused in a row (closed DMs, Discord 50007); three unfollow.
    failures    INTEGER NOT NULL DEFAULT 0,
    UNIQUE (guild_id, user_id, slug)
);

CREATE INDEX follows_topic ON follows (guild_id, slug);
CREATE INDEX follows_slug ON follows (slug);

-- The send record: written (pending) with the change feed's cursor, claimed (sending) before
-- the DM goes out, settled (sent, failed, dropped) after. The unique key makes a second row
-- for the same member, server, topic and revision impossible, whichever process finds it.
CREATE TABLE follow_sends (
    id          INTEGER PRIMARY KEY,
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    slug        TEXT    NOT NULL,
    revision_id INTEGER NOT NULL,
    previous_id INTEGER,
    state       TEXT    NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'dropped')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    not_before  TEXT    NOT NULL,
    message_id  INTEGER,
    updated_at  TEXT    NOT NULL,
    UNIQUE (user_id, guild_id, slug, revision_id)
);

CREATE INDEX follow_sends_due ON follow_sends (state, not_before);
