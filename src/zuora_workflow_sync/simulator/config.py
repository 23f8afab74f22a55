"""Start-up configuration of the simulator, and the runtime settings the admin API can change."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any


class OverMaxPolicy(StrEnum):
    """What `GET /workflows` does with `page_length` over 50 (unconfirmed: zuora-api.md 3.3)."""

    CLAMP = "clamp"
    REJECT = "reject"


@dataclass(frozen=True)
class Settings:
    """Behaviour switches that `PATCH /__sim/settings` may change while serving."""

    token_ttl_seconds: int = 3599
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    concurrency_limit: int = 40
    concurrency_headers: bool = False
    page_length_over_max: OverMaxPolicy = OverMaxPolicy.CLAMP
    token_ip_limit_per_minute: int = 100
    token_ip_limit_enabled: bool = True
    require_entity_header: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def updated(self, raw: dict[str, Any]) -> Settings:
        """A copy with the given fields changed; raises ValueError on unknown or bad values."""
        known = {f.name: f for f in fields(self)}
        unknown = set(raw) - set(known)
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        values = {name: _coerce(name, value, getattr(self, name)) for name, value in raw.items()}
        return replace(self, **values)


def _coerce(name: str, value: Any, current: Any) -> Any:
    if isinstance(current, OverMaxPolicy):
        return OverMaxPolicy(value)
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be a boolean")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name} must be a non-negative number")
    return type(current)(value)


@dataclass(frozen=True)
class SimulatorConfig:
    """How to start a simulator: listen address, generated data, initial settings."""

    host: str = "127.0.0.1"
    port: int = 0
    tenants: int = 3
    workflows: int = 25
    seed: int = 1
    tenants_file: Path | None = None
    fault_seed: int | None = None
    settings: Settings = Settings()
    shutdown_timeout_seconds: float = 1.0
