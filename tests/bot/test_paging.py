"""Paging arithmetic: counts, clamping and slices, at the edges."""

from __future__ import annotations

import pytest

from bot.paging import clamp_page, page_count, page_items


@pytest.mark.parametrize(
    ("total", "size", "pages"),
    [(0, 10, 1), (1, 10, 1), (10, 10, 1), (11, 10, 2), (20, 10, 2), (21, 10, 3), (5, 1, 5)],
)
def test_page_count_rounds_up_and_is_never_zero(total: int, size: int, pages: int) -> None:
    assert page_count(total, size) == pages


def test_page_count_refuses_an_empty_page_size() -> None:
    with pytest.raises(ValueError):
        page_count(3, 0)


@pytest.mark.parametrize(
    ("page", "pages", "clamped"),
    [(-5, 3, 0), (-1, 3, 0), (0, 3, 0), (2, 3, 2), (3, 3, 2), (99, 3, 2), (4, 1, 0), (0, 0, 0)],
)
def test_clamp_page_lands_on_a_page_that_exists(page: int, pages: int, clamped: int) -> None:
    assert clamp_page(page, pages) == clamped


def test_page_items_slices_one_page() -> None:
    items = list(range(23))
    assert page_items(items, 0, 10) == list(range(10))
    assert page_items(items, 2, 10) == [20, 21, 22]
    assert page_items(items, 3, 10) == []
    assert page_items(items, -1, 10) == list(range(10))


def test_every_item_is_on_exactly_one_page() -> None:
    items = list(range(47))
    pages = page_count(len(items), 10)
    seen = [x for page in range(pages) for x in page_items(items, page, 10)]
    assert seen == items
