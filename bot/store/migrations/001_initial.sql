-- Sections, their aliases, their history, and the full-text index over them.
-- guild_id NULL is the curated pack every server shares; a server's own rows come later.

CREATE TABLE sections (
    id          INTEGER PRIMARY KEY,
    guild_id    INTEGER,
    slug        TEXT    NOT NULL CHECK (length(slug) BETWEEN 1 AND 64),
    title       TEXT    NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body        TEXT    NOT NULL CHECK (length(body) BETWEEN 1 AND 4000),
    tags        TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(tags)),
    sources     TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(sources)),
    updated     TEXT    NOT NULL,
    position    INTEGER NOT NULL DEFAULT 0,
    status      TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired', 'hidden')),
    revision    INTEGER NOT NULL DEFAULT 1
);

-- One section per slug per scope, enforced by the database (the curated scope is guild 0 here).
CREATE UNIQUE INDEX sections_scope_slug ON sections (ifnull(guild_id, 0), lower(slug));

CREATE TABLE section_aliases (
    section_id  INTEGER NOT NULL REFERENCES sections (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    alias       TEXT    NOT NULL CHECK (length(alias) BETWEEN 1 AND 100),
    PRIMARY KEY (section_id, position)
);

CREATE TABLE revisions (
    id          INTEGER PRIMARY KEY,
    section_id  INTEGER NOT NULL REFERENCES sections (id) ON DELETE CASCADE,
    number      INTEGER NOT NULL,
    author      TEXT    NOT NULL,
    author_id   INTEGER,
    created_at  TEXT    NOT NULL,
    action      TEXT    NOT NULL CHECK (action IN ('created', 'updated', 'retired', 'restored', 'hidden', 'reverted')),
    changed     TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(changed)),
    snapshot    TEXT    NOT NULL CHECK (json_valid(snapshot)),
    UNIQUE (section_id, number)
);

-- Full-text index, one row per answerable section (rowid = sections.id), porter stemming.
CREATE VIRTUAL TABLE sections_fts USING fts5 (
    title, aliases, body,
    tokenize = 'porter unicode61 remove_diacritics 2'
);

-- Key/value facts the bot keeps about itself (for example the command-sync hash).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
