"""When to stop paging `GET /workflows`, and how to refuse a listing that never ends.

Zuora documents neither the last-page marker nor a total count (zuora-api.md 3.3), so a page
ends the listing when `next_page` is missing or empty, when `data` is empty, or when it holds
fewer items than asked for. The next request is built from `page + 1` on our own base URL;
`next_page` is never followed verbatim (its host may differ from the one we trust).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from zuora_workflow_sync.errors import PaginationError
from zuora_workflow_sync.zuora.models import WorkflowPage


@dataclass
class PageWalk:
    """The state of one listing: pages seen so far and the guard against endless paging."""

    page_length: int
    max_pages: int
    pages_read: int = 0
    _previous_ids: tuple[int, ...] | None = field(default=None, repr=False)

    def accept(self, page_number: int, page: WorkflowPage) -> bool:
        """Record `page`; True when another page must be fetched, PaginationError if looping."""
        ids = tuple(item.id for item in page.data)
        reported = page.pagination.page if page.pagination else None
        if reported is not None and reported != page_number:
            raise PaginationError(f"asked for page {page_number}, Zuora returned page {reported}")
        if ids and ids == self._previous_ids:
            raise PaginationError(f"page {page_number} repeats the previous page")
        self._previous_ids = ids
        self.pages_read += 1
        more = self._has_more(page)
        if more and self.pages_read >= self.max_pages:
            raise PaginationError(
                f"the listing did not end after {self.max_pages} pages; refusing to page on"
            )
        return more

    def _has_more(self, page: WorkflowPage) -> bool:
        next_page = page.pagination.next_page if page.pagination else None
        if not next_page or not next_page.strip():
            return False
        return len(page.data) >= self.page_length
