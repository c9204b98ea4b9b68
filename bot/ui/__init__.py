"""Rendering for Discord: embeds within Discord's limits, and persistent buttons and menus."""
