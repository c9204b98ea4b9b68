"""Briefbot: a Discord bot that explains the news from a curated, moderator-editable briefing."""

__version__ = "0.1.0"
