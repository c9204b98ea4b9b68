-- Search is scoped per server: the full-text index holds the curated pack alone (a server's own
-- sections are searched in memory, in its own overlay), and a server's rows are found by id.
DELETE FROM sections_fts WHERE rowid IN (SELECT id FROM sections WHERE guild_id IS NOT NULL);

CREATE INDEX sections_guild ON sections (guild_id) WHERE guild_id IS NOT NULL;
