"""State every worker process shares about a tenant: pacing (in-flight slots, quotas, pauses,
adaptive limits) and access tokens. In Redis when the fleet has one, else in a SQLite file."""

from zuora_workflow_sync.coordination.connect import (
    CoordinationTarget,
    connect_sqlite,
    parse_coordination_url,
    redis_client,
)

__all__ = ["CoordinationTarget", "connect_sqlite", "parse_coordination_url", "redis_client"]
