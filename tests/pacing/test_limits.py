"""Tenant limits from tenant type, environment name, customer override and settings."""

from __future__ import annotations

import pytest

from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.pacing import TenantLimits, tenant_key, tenant_limits
from zuora_workflow_sync.settings import Settings


@pytest.mark.parametrize(
    ("environment", "tenant_type", "per_minute", "per_hour", "per_day"),
    [
        (None, None, 25_000, 1_125_000, 13_500_000),
        ("us-cloud1-production", None, 25_000, 1_125_000, 13_500_000),
        ("eu-developer-sandbox", None, 6_250, 12_500, 25_000),
        ("us-central-sandbox", None, 6_250, 12_500, 25_000),  # alias of a developer sandbox
        ("us-cloud2-api-sandbox", None, 1_250, 2_500, 5_000),
        ("eu-sandbox", None, 1_250, 2_500, 5_000),
        ("eu-sandbox", "production", 25_000, 1_125_000, 13_500_000),  # explicit type wins
        (None, "api_sandbox", 1_250, 2_500, 5_000),
    ],
)
def test_quotas_are_half_of_zuoras_when_type_comes_from(
    environment: str | None, tenant_type: str | None, per_minute: int, per_hour: int, per_day: int
) -> None:
    got = tenant_limits(
        "tenant:7",
        environment=environment,
        tenant_type=tenant_type,
        max_in_flight=None,
        settings=Settings(),
    )
    assert got == TenantLimits("tenant:7", 4, per_minute, per_hour, per_day)


def test_quotas_round_down_when_fraction_is_odd() -> None:
    settings = Settings(pacing_quota_fraction=0.3333)
    got = tenant_limits(
        "tenant:1",
        environment=None,
        tenant_type="api_sandbox",
        max_in_flight=None,
        settings=settings,
    )
    assert (got.per_minute, got.per_hour, got.per_day) == (833, 1666, 3333)


@pytest.mark.parametrize(
    ("override", "default", "expected"), [(None, 6, 6), (9, 6, 9), (99, 6, 40)]
)
def test_max_in_flight_is_override_else_setting_when_capped_at_40(
    override: int | None, default: int, expected: int
) -> None:
    settings = Settings(pacing_max_in_flight=default)
    got = tenant_limits(
        "tenant:1", environment=None, tenant_type=None, max_in_flight=override, settings=settings
    )
    assert got.max_in_flight == expected


def test_limits_refuse_unknown_type_and_zero_override() -> None:
    with pytest.raises(ConfigurationError, match="unknown tenant type"):
        tenant_limits(
            "tenant:1",
            environment=None,
            tenant_type="gold",
            max_in_flight=None,
            settings=Settings(),
        )
    with pytest.raises(ConfigurationError, match="at least 1"):
        tenant_limits(
            "tenant:1", environment=None, tenant_type=None, max_in_flight=0, settings=Settings()
        )


def test_tenant_key_is_shared_by_one_tenants_customers_and_hides_the_client_id() -> None:
    key = tenant_key("https://rest.zuora.com/", "client-123")
    assert key == tenant_key("https://REST.zuora.com", "client-123")
    assert key != tenant_key("https://rest.zuora.com", "client-124")
    assert key != tenant_key("https://rest.test.zuora.com", "client-123")
    assert "client-123" not in key and key.startswith("tenant:")
