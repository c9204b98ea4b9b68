-- A draft's `revision` held the version its form was opened from, a JSON pair
-- [section id, revision], in an INTEGER column: it becomes `version`, TEXT, holding the same pair.

ALTER TABLE kb_drafts ADD COLUMN version TEXT CHECK (version IS NULL OR json_valid(version));

UPDATE kb_drafts SET version = CAST(revision AS TEXT) WHERE revision IS NOT NULL;

ALTER TABLE kb_drafts DROP COLUMN revision;
