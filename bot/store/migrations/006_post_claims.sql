-- Post claims, tightened: how a claimed post whose send may already have reached Discord was
-- settled after a retry or a restart (found in the channel, not there, or the nonce alone when
-- Briefbot could not read the channel's history). The claim's message_id is now written as soon
-- as Discord returns it, while the row is still 'claimed'.

ALTER TABLE briefing_posts ADD COLUMN recovery TEXT;
