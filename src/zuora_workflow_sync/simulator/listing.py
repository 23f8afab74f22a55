"""`GET /workflows`: filters, 1-based pages of at most 50, and an absolute `next_page` URL.

Unconfirmed choices (zuora-api.md 3.3): ordered by id, `next_page` omitted on the last page,
pages past the end are empty, `page_length` over 50 clamped or refused per settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from multidict import MultiMapping

from zuora_workflow_sync.simulator.config import OverMaxPolicy
from zuora_workflow_sync.simulator.replies import Exchange, Reply, workflow_errors
from zuora_workflow_sync.simulator.state import SimulatorState
from zuora_workflow_sync.simulator.tenants import Workflow
from zuora_workflow_sync.simulator.views import Body, encode

DEFAULT_PAGE_LENGTH = 20
MAX_PAGE_LENGTH = 50
_BOOLEAN_FILTERS = (
    ("callout_trigger", "callout_trigger"),
    ("ondemand_trigger", "ondemand_trigger"),
    ("scheduled_trigger", "scheduled_trigger"),
)
_TEXT_FILTERS = ("name", "interval")


class QueryError(ValueError):
    """A query parameter Zuora would refuse with 400."""


@dataclass(frozen=True)
class ListQuery:
    page: int
    page_length: int
    booleans: tuple[tuple[str, bool], ...]
    texts: tuple[tuple[str, str], ...]

    def keeps(self, workflow: Workflow) -> bool:
        return all(getattr(workflow, attr) is value for attr, value in self.booleans) and all(
            getattr(workflow, attr) == value for attr, value in self.texts
        )

    def filter_params(self) -> list[tuple[str, str]]:
        params = [(name, "true" if value else "false") for name, value in self.booleans]
        return params + list(self.texts)


def page_hint(query: MultiMapping[str]) -> int | None:
    """The page number for fault matching, without validating anything else."""
    raw = query.get("page", "1")
    return int(raw) if raw.isdigit() else None


def _positive(query: MultiMapping[str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise QueryError(f"The input of {name} '{raw}' is invalid.")
    return int(raw)


def _boolean(raw: str, name: str) -> bool:
    lowered = raw.lower()
    if lowered not in ("true", "false"):
        raise QueryError(f"The input of {name} '{raw}' is invalid.")
    return lowered == "true"


def parse_query(query: MultiMapping[str], policy: OverMaxPolicy) -> ListQuery:
    page = _positive(query, "page", 1)
    length = _positive(query, "page_length", DEFAULT_PAGE_LENGTH)
    if length > MAX_PAGE_LENGTH:
        if policy is OverMaxPolicy.REJECT:
            raise QueryError(f"The input of page_length '{length}' is invalid. The maximum is 50.")
        length = MAX_PAGE_LENGTH
    booleans = tuple(
        (attr, _boolean(query[name], name)) for name, attr in _BOOLEAN_FILTERS if name in query
    )
    texts = tuple((name, query[name]) for name in _TEXT_FILTERS if name in query)
    return ListQuery(page, length, booleans, texts)


def list_workflows(state: SimulatorState, exchange: Exchange) -> Reply:
    assert exchange.tenant is not None
    try:
        query = parse_query(exchange.request.query, state.settings.page_length_over_max)
    except QueryError as error:
        return workflow_errors(400, str(error))
    workflows = exchange.tenant.sorted_workflows()
    if query.booleans or query.texts:
        workflows = [w for w in workflows if query.keeps(w)]
    start = (query.page - 1) * query.page_length
    selected = workflows[start : start + query.page_length]
    items = b",".join(state.cache.list_item(w) for w in selected)
    pagination: dict[str, object] = {"page": query.page, "page_length": len(selected)}
    if start + query.page_length < len(workflows):
        pagination["next_page"] = _next_page_url(exchange, query)
    return Reply(200, Body(b'{"data":[' + items + b'],"pagination":' + encode(pagination) + b"}"))


def _next_page_url(exchange: Exchange, query: ListQuery) -> str:
    request = exchange.request
    params = [("page", str(query.page + 1)), ("page_length", str(query.page_length))]
    return (
        f"{request.scheme}://{request.host}/workflows?{urlencode(params + query.filter_params())}"
    )
