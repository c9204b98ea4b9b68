-- Help channels: where a server lets Briefbot answer members' messages, and the replies it made.

-- A text or forum channel where answering is on. `kind` says which, because the two are read
-- differently (every new message in a text channel, only the first message of a forum post).
CREATE TABLE autoanswer_channels (
    guild_id    INTEGER NOT NULL,
    channel_id  INTEGER NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('text', 'forum')),
    enabled_by  INTEGER NOT NULL,
    enabled_at  TEXT    NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);

-- One row per member's message Briefbot replied to, claimed before the reply is sent so that a
-- message is answered at most once (a replayed event, two processes serving one server). Holds
-- ids only, never the message's text or its author; kept a day (see AutoanswerStore.claim).
CREATE TABLE autoanswer_replies (
    guild_id    INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    channel_id  INTEGER NOT NULL,
    claimed_at  TEXT    NOT NULL,
    PRIMARY KEY (guild_id, message_id)
);
CREATE INDEX autoanswer_replies_claimed ON autoanswer_replies (claimed_at);
