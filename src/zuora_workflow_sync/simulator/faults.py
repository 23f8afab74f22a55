"""A seeded fault plan: rules that say which requests fail, how, how often and how many times.

Each rule draws from its own `random.Random(f"{seed}/{rule_id}")`, so a failure can be replayed.
How a fault is put on the wire lives in `fault_replies`.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any


class FaultKind(StrEnum):
    STATUS = "status"
    TOO_MANY_REQUESTS = "too_many_requests"
    DROP = "drop"
    DRIP = "drip"
    MALFORMED = "malformed"
    HTML = "html"
    OVERSIZE = "oversize"
    GZIP_BOMB = "gzip_bomb"
    LATENCY = "latency"


class Route(StrEnum):
    """The Zuora operations a rule can target (stats use the same names)."""

    TOKEN = "token"
    LIST = "list"
    RETRIEVE = "retrieve"
    VERSIONS = "versions"
    EXPORT = "export"
    METRICS = "metrics"


DROP_VARIANTS = ("before", "mid_body")
MALFORMED_VARIANTS = (
    "truncated",
    "empty",
    "not_json",
    "nan",
    "deep_nesting",
    "nul_bytes",
    "invalid_utf8",
    "duplicate_keys",
    "wrong_content_type",
)


@dataclass
class FaultRule:
    """One rule; unset matchers match anything. `count` caps how many times it fires."""

    kind: FaultKind
    tenant: str | None = None
    route: Route | None = None
    page: int | None = None
    workflow_id: int | None = None
    rate: float = 1.0
    count: int | None = None
    status: int | None = None
    retry_after: int | None = None
    delay_ms: int = 0
    size_bytes: int | None = None
    variant: str | None = None
    chunk_bytes: int = 8
    interval_ms: int = 200
    body: Any = None
    id: int = 0
    fired: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def matches(
        self, route: Route, tenant: str | None, page: int | None, workflow_id: int | None
    ) -> bool:
        return (
            (self.route is None or self.route == route)
            and (self.tenant is None or self.tenant == tenant)
            and (self.page is None or self.page == page)
            and (self.workflow_id is None or self.workflow_id == workflow_id)
            and (self.count is None or self.fired < self.count)
        )

    def to_dict(self) -> dict[str, Any]:
        raw = asdict(self)
        raw.pop("_rng")
        return raw


_INT_FIELDS = ("page", "workflow_id", "count", "status", "retry_after", "size_bytes")


def rule_from_dict(raw: dict[str, Any]) -> FaultRule:
    """Validate an admin JSON rule; raises ValueError with a readable reason."""
    known = {f.name for f in fields(FaultRule)} - {"id", "fired", "_rng"}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"unknown fault rule fields: {sorted(unknown)}")
    if "kind" not in raw:
        raise ValueError("a fault rule needs a kind")
    values = dict(raw)
    values["kind"] = FaultKind(raw["kind"])
    route = raw.get("route")
    values["route"] = None if route in (None, "any") else Route(route)
    rule = FaultRule(**values)
    _check(rule)
    return rule


def _check(rule: FaultRule) -> None:
    for name in _INT_FIELDS:
        value = getattr(rule, name)
        if value is not None and (not isinstance(value, int) or value < 0):
            raise ValueError(f"{name} must be a non-negative integer")
    if not 0.0 <= float(rule.rate) <= 1.0:
        raise ValueError("rate must be between 0 and 1")
    if rule.chunk_bytes < 1 or rule.interval_ms < 0 or rule.delay_ms < 0:
        raise ValueError("chunk_bytes must be >= 1, interval_ms and delay_ms >= 0")
    allowed = {FaultKind.DROP: DROP_VARIANTS, FaultKind.MALFORMED: MALFORMED_VARIANTS}
    if rule.variant is not None and rule.variant not in allowed.get(rule.kind, ()):
        raise ValueError(f"variant {rule.variant!r} is not valid for {rule.kind.value}")


class FaultPlan:
    """The ordered rules; the first matching rule that wins its draw fires."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._rules: list[FaultRule] = []
        self._next_id = 1

    @property
    def empty(self) -> bool:
        return not self._rules

    def add(self, rule: FaultRule) -> FaultRule:
        rule.id = self._next_id
        self._next_id += 1
        rule._rng = random.Random(f"{self.seed}/{rule.id}")
        self._rules.append(rule)
        return rule

    def remove(self, rule_id: int) -> bool:
        before = len(self._rules)
        self._rules = [r for r in self._rules if r.id != rule_id]
        return len(self._rules) < before

    def clear(self) -> None:
        self._rules.clear()
        self._next_id = 1

    def rules(self) -> list[FaultRule]:
        return list(self._rules)

    def pick(
        self,
        route: Route,
        tenant: str | None,
        page: int | None = None,
        workflow_id: int | None = None,
    ) -> FaultRule | None:
        for rule in self._rules:
            if not rule.matches(route, tenant, page, workflow_id):
                continue
            if rule.rate >= 1.0 or rule._rng.random() < rule.rate:
                rule.fired += 1
                return rule
        return None
