"""The PostgreSQL store (issue 15, in progress): its schema and the runner of its migrations.

`migrations/NNN_*.sql` holds the same tables and columns as the SQLite migrations, in
PostgreSQL's dialect; `schema.py` applies them. Nothing in the bot reads or writes PostgreSQL
yet: the store behind `BRIEFBOT_DB` is still SQLite alone.
"""
