"""The circuit breaker's state machine: open after K failures, growing cool-downs, half-open
probes, held circuits for credentials and permissions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from zuora_workflow_sync.domain.circuit import (
    Circuit,
    CircuitEvent,
    CircuitPolicy,
    CircuitStatus,
    format_utc,
    skip_reason,
)
from zuora_workflow_sync.errors import ConfigurationError

NOW = datetime(2026, 11, 29, 13, 55, tzinfo=UTC)
POLICY = CircuitPolicy(failure_threshold=3, cooldown_seconds=600, cooldown_max_seconds=3600)


def test_circuit_stays_closed_when_failures_are_below_the_threshold() -> None:
    for failures in (1, 2):
        change = POLICY.after_failure(Circuit(), failures, NOW)
        assert change.circuit == Circuit() and change.event is None


def test_circuit_opens_for_the_first_cooldown_when_failures_reach_the_threshold() -> None:
    change = POLICY.after_failure(Circuit(), 3, NOW)
    assert change.event is CircuitEvent.OPENED
    assert change.circuit == Circuit(NOW + timedelta(seconds=600), 1, False)
    assert change.circuit.status(NOW) is CircuitStatus.OPEN
    assert not change.circuit.allows_dispatch(NOW + timedelta(seconds=599))
    assert skip_reason(change.circuit, 7) == "circuit open until 2026-11-29 14:05 UTC"


def test_circuit_is_half_open_and_allows_one_probe_when_the_cooldown_is_over() -> None:
    circuit = POLICY.after_failure(Circuit(), 3, NOW).circuit
    later = NOW + timedelta(seconds=600)
    assert circuit.status(later) is CircuitStatus.HALF_OPEN
    assert circuit.allows_dispatch(later) and circuit.describe(later) == "half-open"


def test_cooldown_doubles_up_to_the_max_when_probes_keep_failing() -> None:
    circuit = POLICY.after_failure(Circuit(), 3, NOW).circuit
    seen = []
    for failures in range(4, 9):
        change = POLICY.after_failure(circuit, failures, NOW)
        assert change.event is CircuitEvent.REOPENED
        circuit = change.circuit
        assert circuit.open_until is not None
        seen.append((circuit.open_until - NOW).total_seconds())
    assert seen == [1200, 2400, 3600, 3600, 3600]
    assert circuit.opened_count == 6


def test_success_closes_and_announces_when_the_circuit_was_open() -> None:
    opened = POLICY.after_failure(Circuit(), 3, NOW).circuit
    change = POLICY.after_success(opened)
    assert change.circuit == Circuit() and change.event is CircuitEvent.CLOSED
    assert POLICY.after_success(Circuit()).event is None


@pytest.mark.parametrize("failures", [1, 5])
def test_auth_failure_holds_the_circuit_with_no_end_when_it_happens(failures: int) -> None:
    change = POLICY.after_failure(Circuit(), failures, NOW, hold=True)
    assert change.event is CircuitEvent.OPENED
    held = change.circuit
    assert held.held and held.open_until is None
    far = NOW + timedelta(days=365)
    assert held.status(far) is CircuitStatus.HELD and not held.allows_dispatch(far)
    assert skip_reason(held, 12) == (
        "circuit open until the credentials change or an operator resets it "
        "(workflow-sync customers reset 12)"
    )
    again = POLICY.after_failure(held, failures + 1, far, hold=True)
    assert again.circuit == held and again.event is None


def test_failed_probe_with_auth_error_holds_without_a_new_alert_when_already_open() -> None:
    opened = POLICY.after_failure(Circuit(), 3, NOW).circuit
    change = POLICY.after_failure(opened, 4, NOW + timedelta(hours=1), hold=True)
    assert change.circuit.held and change.event is CircuitEvent.REOPENED


def test_time_is_shown_rounded_up_to_the_minute_when_formatted() -> None:
    assert format_utc(datetime(2026, 11, 29, 14, 5, tzinfo=UTC)) == "2026-11-29 14:05 UTC"
    assert format_utc(datetime(2026, 11, 29, 14, 4, 1, tzinfo=UTC)) == "2026-11-29 14:05 UTC"


def test_policy_refuses_a_threshold_below_one_when_built() -> None:
    with pytest.raises(ConfigurationError):
        CircuitPolicy(failure_threshold=0)
