-- Reserved for issue 14 (012_follows): filled in by the work that needs it.
SELECT 1;
