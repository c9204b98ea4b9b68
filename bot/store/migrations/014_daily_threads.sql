-- Reserved for issue 14 (014_daily_threads): filled in by the work that needs it.
SELECT 1;
