"""What a guild id stands for where it is not a Discord server's own id.

Sections, asks and schedules are all keyed by a guild id, and two values in that place mean
something else; each meaning has one name here:

- `CURATED` (None), as a section's owner: the shared curated pack every server sees. As the
  one asking, someone who sees that pack alone (the console, `briefbot ask` without `--guild`).
- `CONSOLE` (0): the local console's own daily explainer (its schedule and rotation).
- `NO_SERVER` (0): an interaction Discord sent from outside a server; no server's topics,
  settings or drafts are stored under it.
"""

from __future__ import annotations

from typing import Final

CURATED: Final = None
CONSOLE: Final = 0
NO_SERVER: Final = 0


def scope_of(guild_id: int | None) -> int:
    """The id a Discord interaction acts for: its server's, or NO_SERVER outside one."""
    return NO_SERVER if guild_id is None else guild_id


def viewer_of(guild_id: int) -> int | None:
    """Whose topics a schedule's guild id sees: the console sees the curated pack alone."""
    return CURATED if guild_id == CONSOLE else guild_id
