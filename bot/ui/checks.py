"""Who may do what, checked by the bot on every command, form and click.

Discord's `default_member_permissions` is only a hint that a server's admins can override, so
these run every time.
"""

from __future__ import annotations

import discord

from bot.errors import NotAllowed
from bot.scope import scope_of
from bot.ui.host import editor_of


def role_ids(interaction: discord.Interaction) -> list[int]:
    roles = getattr(interaction.user, "roles", [])
    return [role.id for role in roles]


async def require_editor(interaction: discord.Interaction) -> None:
    """Manage Server or the server's moderator role: may edit this server's briefing."""
    await editor_of(interaction).check_editor(
        scope_of(interaction.guild_id), interaction.permissions.manage_guild, role_ids(interaction)
    )


def require_manage_guild(interaction: discord.Interaction, changing: str) -> None:
    """Manage Server, for server settings; `changing` names what it guards, for the refusal."""
    if not interaction.permissions.manage_guild:
        raise NotAllowed(f"Changing {changing} needs the Manage Server permission.")
