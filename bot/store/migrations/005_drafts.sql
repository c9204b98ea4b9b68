-- Several drafts per moderator per server, newest first, expiring after 30 days: listing and
-- trimming read (guild_id, user_id, created_at); the purge of expired drafts reads created_at.

DROP INDEX kb_drafts_owner;

CREATE INDEX kb_drafts_owner_time ON kb_drafts (guild_id, user_id, created_at);
CREATE INDEX kb_drafts_created ON kb_drafts (created_at);
