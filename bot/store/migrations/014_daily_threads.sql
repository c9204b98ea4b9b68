-- A discussion thread for each daily explainer, opt-in per server. The schedule holds the choice;
-- each post records its thread: the name it is to get, and whether it is still to be opened
-- ('pending', leased until thread_retry_at like a claim), was opened (thread_id) or could not be
-- (thread_error, which /briefing show quotes). A thread is only ever asked for once the post is
-- recorded as sent, so a retried post never asks twice.

ALTER TABLE briefing_schedules ADD COLUMN thread INTEGER NOT NULL DEFAULT 0 CHECK (thread IN (0, 1));

ALTER TABLE briefing_posts ADD COLUMN thread_state TEXT
    CHECK (thread_state IS NULL OR thread_state IN ('pending', 'opened', 'failed'));
ALTER TABLE briefing_posts ADD COLUMN thread_name TEXT;
ALTER TABLE briefing_posts ADD COLUMN thread_id INTEGER;
ALTER TABLE briefing_posts ADD COLUMN thread_error TEXT;
ALTER TABLE briefing_posts ADD COLUMN thread_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE briefing_posts ADD COLUMN thread_retry_at TEXT;

CREATE INDEX briefing_posts_threads ON briefing_posts (thread_retry_at) WHERE thread_state = 'pending';
