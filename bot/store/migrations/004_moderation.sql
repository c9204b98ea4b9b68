-- Moderators' settings per server, and drafts of forms that could not be saved (so a
-- moderator's text is never lost to a validation error or an edit conflict).

CREATE TABLE guild_settings (
    guild_id        INTEGER PRIMARY KEY,
    mod_role_id     INTEGER,
    log_channel_id  INTEGER
);

CREATE TABLE kb_drafts (
    id          INTEGER PRIMARY KEY,
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    slug        TEXT,
    revision    INTEGER,
    fields      TEXT    NOT NULL CHECK (json_valid(fields)),
    created_at  TEXT    NOT NULL
);

CREATE INDEX kb_drafts_owner ON kb_drafts (guild_id, user_id);
