-- Retention: when Briefbot was removed from a server (its data is deleted 30 days later unless
-- the bot is added back), and an index to prune old questions by age across every server.
CREATE TABLE guild_removals (
    guild_id    INTEGER PRIMARY KEY,
    removed_at  TEXT    NOT NULL
);

CREATE INDEX asks_time ON asks (asked_at);
