"""The PostgreSQL backend: its database adapter, schema, migrations and full text.

`migrations/NNN_*.sql` holds the same tables and columns as the SQLite migrations, in
PostgreSQL's dialect; `schema.py` applies them. `database.py` is the `Database` the store
modules run on when `BRIEFBOT_DB` is a postgresql:// URL, and `sections.py` the sections'
full text there (chosen by `bot.store.sections.SectionStore` itself).
"""
