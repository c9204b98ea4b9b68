-- The gaps report counts a server's unanswered questions by text: a partial index holding just
-- those, in text order, lets it read them a page at a time without touching the table.
CREATE INDEX asks_unanswered ON asks (guild_id, question, asked_at) WHERE answered IS NULL;
