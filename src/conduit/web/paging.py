"""``?page=N`` of a list page: which page, its rows, how many pages (the pages show ten
articles a page, as the RealWorld frontends do; the console's tables twenty rows)."""

from __future__ import annotations

from starlette.requests import Request

from conduit.core.pagination import MAX_OFFSET, Page

ARTICLES_PER_PAGE = 10
ROWS_PER_CONSOLE_PAGE = 20


def page_number(request: Request, size: int = ARTICLES_PER_PAGE) -> int:
    """``?page=N`` (1 when absent or not a positive number; bounded)."""
    raw = request.query_params.get("page", "1")
    number = int(raw) if raw.isdigit() else 1
    return max(1, min(number, MAX_OFFSET // size))


def page_of(number: int, size: int = ARTICLES_PER_PAGE) -> Page:
    return Page(limit=size, offset=(number - 1) * size)


def page_count(total: int, size: int = ARTICLES_PER_PAGE) -> int:
    return -(-total // size)
