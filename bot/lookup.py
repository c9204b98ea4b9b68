"""What the search asks a store's full-text index for, in no index's syntax.

A `Lookup` is plain data: the words to look for (as the pack spells them), each with its
weight in the asking server's view and the other forms of it that view uses, and whether a
section may hold any of the words or must hold every one. The search builds lookups; each store
turns one into its own index's query (SQLite: an FTS5 expression of quoted words, see
`bot.store.sections.fts5_expression`), so no store depends on the search and no member's text
ever reaches an index as syntax.
"""

from __future__ import annotations

from typing import NamedTuple


class LookupWord(NamedTuple):
    """One word to look for; a section holding it or any of its forms holds the word."""

    word: str
    weight: float  # its rarity in the asking server's view (more is rarer)
    forms: tuple[str, ...] = ()  # other words of its family that view uses


class Lookup(NamedTuple):
    """Words to look for, rarest first: a section matches if it holds any of them, or, with
    `every`, only if it holds each of them (some form of each)."""

    words: tuple[LookupWord, ...]
    every: bool = False

    def spellings(self) -> list[list[str]]:
        """Each word's spellings to look for (the word, then its forms), words with none left
        out. Any word may match: a spelling an earlier word brought adds nothing, so each is
        looked for once, where it first comes. Every word must match: each keeps all its
        spellings, or a shared one would make two words one."""
        seen: set[str] = set()
        groups: list[list[str]] = []
        for word in self.words:
            spelled = [w for w in dict.fromkeys((word.word, *word.forms)) if w and w not in seen]
            if not self.every:
                seen.update(spelled)
            if spelled:
                groups.append(spelled)
        return groups
