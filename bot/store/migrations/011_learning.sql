-- The learning loop: members' signals on answers, and what moderators taught from them.

-- An answer card's question is found again by the interaction that asked it (`ref`, Discord's
-- interaction id, carried in the card's buttons); `kind` tells a question from a topic opened
-- by name (/explain), which statistics and the gaps report leave out.
ALTER TABLE asks ADD COLUMN ref INTEGER;
ALTER TABLE asks ADD COLUMN kind TEXT NOT NULL DEFAULT 'ask' CHECK (kind IN ('ask', 'explain'));
CREATE INDEX asks_ref ON asks (guild_id, ref) WHERE ref IS NOT NULL;

-- One member's signal on one answer: Helpful, Not what I asked (with the topic they meant, NULL
-- for "None of these"), or a topic picked from the closest ones when there was no answer. Once
-- per member per answer and kind: a second click changes the pick, never the count.
CREATE TABLE signals (
    id          INTEGER PRIMARY KEY,
    guild_id    INTEGER NOT NULL,
    ref         INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('helpful', 'wrong', 'pick')),
    question    TEXT    NOT NULL,
    answered    TEXT,
    picked      TEXT,
    created_at  TEXT    NOT NULL,
    UNIQUE (guild_id, ref, user_id, kind)
);
CREATE INDEX signals_guild_kind ON signals (guild_id, kind, created_at);

-- Members who flagged a topic as outdated, the last time each did (counted since the topic's
-- last update or review).
CREATE TABLE outdated_flags (
    guild_id    INTEGER NOT NULL,
    slug        TEXT    NOT NULL,
    user_id     INTEGER NOT NULL,
    flagged_at  TEXT    NOT NULL,
    PRIMARY KEY (guild_id, slug, user_id)
);

-- A server's small additions to a topic, as numbered changes of their own per (server, topic):
-- a question taught as an alias, a "still accurate" review, or the undoing of one of those.
-- `active` is 0 once a change is undone. Curated updates keep reaching the topic.
CREATE TABLE topic_additions (
    id          INTEGER PRIMARY KEY,
    guild_id    INTEGER NOT NULL,
    slug        TEXT    NOT NULL,
    number      INTEGER NOT NULL,
    action      TEXT    NOT NULL CHECK (action IN ('taught', 'reviewed', 'undone')),
    detail      TEXT    NOT NULL,
    target      INTEGER,
    active      INTEGER NOT NULL DEFAULT 1,
    author      TEXT    NOT NULL,
    author_id   INTEGER,
    created_at  TEXT    NOT NULL,
    UNIQUE (guild_id, slug, number)
);
CREATE INDEX topic_additions_active ON topic_additions (guild_id, action) WHERE active = 1;

-- Review items a moderator saw (so that a click finds the question again) and how each was
-- last settled: taught or dismissed, when, and the newest ask (or signal, for a misanswered
-- item) then: asked or marked a few more times after it, the item comes back, and shown again
-- it is open again.
CREATE TABLE review_items (
    guild_id    INTEGER NOT NULL,
    key         TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('unanswered', 'misanswered', 'outdated')),
    question    TEXT    NOT NULL,
    answered    TEXT,
    count       INTEGER NOT NULL,
    settled     TEXT CHECK (settled IN ('taught', 'dismissed')),
    settled_at  TEXT,
    settled_after INTEGER,
    dismissals  INTEGER NOT NULL DEFAULT 0,
    seen_at     TEXT    NOT NULL,
    PRIMARY KEY (guild_id, key)
);
