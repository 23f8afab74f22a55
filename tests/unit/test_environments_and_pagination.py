"""Environment names and base-URL rules; the pagination stop rules and loop guard."""

from __future__ import annotations

import pytest

from zuora_workflow_sync.errors import ConfigurationError, PaginationError
from zuora_workflow_sync.zuora.environments import ENVIRONMENTS, resolve_base_url
from zuora_workflow_sync.zuora.models import WorkflowPage
from zuora_workflow_sync.zuora.pagination import PageWalk


def test_ten_environments_resolve_to_zuora_https_hosts() -> None:
    assert len(ENVIRONMENTS) == 10
    for name, url in ENVIRONMENTS.items():
        assert resolve_base_url(environment=name, base_url=None) == url
        assert url.startswith("https://rest.") and url.endswith("zuora.com")
    assert resolve_base_url(environment="EU-Sandbox", base_url=None) == (
        "https://rest.sandbox.eu.zuora.com"
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://rest.eu.zuora.com/",
        "http://127.0.0.1:8080",
        "http://localhost:9000/prefix",
        "http://[::1]:8080",
    ],
)
def test_base_url_is_accepted_when_https_or_loopback_http(url: str) -> None:
    assert resolve_base_url(environment=None, base_url=url) == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    [
        "http://rest.zuora.com",
        "http://10.0.0.5",
        "ftp://rest.zuora.com",
        "https://user:pw@rest.zuora.com",
        "https://rest.zuora.com?x=1",
        "https://rest zuora.com",
        "",
        "rest.zuora.com",
    ],
)
def test_base_url_is_refused_when_unsafe_or_malformed(url: str) -> None:
    with pytest.raises(ConfigurationError):
        resolve_base_url(environment=None, base_url=url)


def test_environment_and_base_url_are_exclusive() -> None:
    with pytest.raises(ConfigurationError):
        resolve_base_url(environment="eu-production", base_url="https://rest.eu.zuora.com")
    with pytest.raises(ConfigurationError, match="unknown Zuora environment"):
        resolve_base_url(environment="mars-production", base_url=None)


def _page(ids: list[int], page: int, next_page: str | None) -> WorkflowPage:
    return WorkflowPage.model_validate(
        {
            "data": [{"id": i} for i in ids],
            "pagination": {"page": page, "page_length": len(ids), "next_page": next_page},
        }
    )


def test_listing_stops_when_next_page_missing_empty_or_page_short() -> None:
    walk = PageWalk(page_length=2, max_pages=100)
    assert walk.accept(1, _page([1, 2], 1, "https://h/workflows?page=2"))
    assert not walk.accept(2, _page([3, 4], 2, None))
    assert not PageWalk(2, 100).accept(1, _page([1, 2], 1, ""))
    assert not PageWalk(2, 100).accept(1, _page([1], 1, "https://h/workflows?page=2"))
    assert not PageWalk(2, 100).accept(1, _page([], 1, "https://h/workflows?page=2"))


def test_listing_is_refused_when_a_page_repeats() -> None:
    walk = PageWalk(page_length=2, max_pages=100)
    walk.accept(1, _page([1, 2], 1, "next"))
    with pytest.raises(PaginationError, match="repeats"):
        walk.accept(2, _page([1, 2], 2, "next"))


def test_listing_is_refused_when_server_ignores_page_number() -> None:
    walk = PageWalk(page_length=2, max_pages=100)
    walk.accept(1, _page([1, 2], 1, "next"))
    with pytest.raises(PaginationError, match="returned page 1"):
        walk.accept(2, _page([3, 4], 1, "next"))


def test_listing_is_refused_when_it_never_ends() -> None:
    walk = PageWalk(page_length=1, max_pages=5)
    for number in range(1, 5):
        assert walk.accept(number, _page([number], number, "next"))
    with pytest.raises(PaginationError, match="did not end after 5 pages"):
        walk.accept(5, _page([5], 5, "next"))
