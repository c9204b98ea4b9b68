"""A Briefbot process for test_concurrent_edits: one moderator saving one topic.

Run from the repository root (the test does):

    python tests/bot/store/edit_worker.py LOCATION GUILD SLUG NAME

It opens the database at LOCATION (a SQLite file or a postgresql:// URL), reads what server
GUILD sees under SLUG (the version the moderator's form is filled from), prints `READ n`
(the revision it read), then waits for a line on stdin before saving its own title,
"Edited by NAME", with that version as `opened`. It prints `SAVED n` (the new revision) or
`CONFLICT` (the store refused the save: the topic changed since it was read) and exits.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bot.store.backends import open_database  # noqa: E402
from bot.store.sections import EditConflict, SectionStore  # noqa: E402


async def edit(location: str, guild_id: int, slug: str, name: str) -> None:
    db = await open_database(location, migrate=False)
    try:
        store = SectionStore(db)
        seen = await store.get(guild_id, slug) or await store.get(None, slug)
        assert seen is not None and seen.status == "active", seen
        print(f"READ {seen.revision}", flush=True)
        await asyncio.to_thread(sys.stdin.readline)  # both have read: now save
        content = dataclasses.replace(seen.content, title=f"Edited by {name}")
        try:
            saved = await store.save_for_guild(
                guild_id, content, opened=seen.version, author=name, author_id=None
            )
        except EditConflict:
            print("CONFLICT", flush=True)
        else:
            print(f"SAVED {saved.revision}", flush=True)
    finally:
        await db.close()


if __name__ == "__main__":
    location, guild, slug, name = sys.argv[1:5]
    asyncio.run(edit(location, int(guild), slug, name))
