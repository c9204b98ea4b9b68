-- Every question asked in a server, and whether it got a confident answer: the gaps report
-- and the statistics read from here.
CREATE TABLE asks (
    id          INTEGER PRIMARY KEY,
    guild_id    INTEGER NOT NULL,
    question    TEXT    NOT NULL,
    answered    TEXT,
    score       REAL,
    asked_at    TEXT    NOT NULL
);

CREATE INDEX asks_guild_time ON asks (guild_id, asked_at);
