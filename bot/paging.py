"""Paging a list: how many pages, which page a request lands on, and the items on it.

Pages are numbered from 0. An empty list still has one (empty) page, and a page asked for past
either end is the nearest one that exists: a list that shrank since its page was drawn (a draft
saved, a topic removed) shows its last page instead of failing. Pure arithmetic, shared by the
editor's reads, the Discord pages and the console.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def page_count(total: int, size: int) -> int:
    """Pages needed for `total` items, `size` to a page; never fewer than one."""
    if size < 1:
        raise ValueError(f"page size must be at least 1, not {size}")
    return max(1, -(-total // size))


def clamp_page(page: int, pages: int) -> int:
    """`page` moved into 0..pages-1."""
    return min(max(page, 0), max(pages, 1) - 1)


def page_items(items: Sequence[T], page: int, size: int) -> Sequence[T]:
    """The items on `page` (0-based, not clamped: past the end is empty)."""
    start = max(page, 0) * size
    return items[start : start + size]
