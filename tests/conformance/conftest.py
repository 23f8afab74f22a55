"""Fixtures of the conformance suite: the specs (raw and patched), a token, and schemathesis schemas
bound to the session simulator (`simulator`, reset before each test) over a real loopback socket.

Generation is steered towards the simulator's real data with schema-local hooks: about two in
three generated workflow ids are ids of tenant-001, the export's `version` is often a real version
or `latest`, metrics get valid date ranges, `Zuora-Entity-Ids` is the tenant's own entity or absent,
and the token form often carries real credentials. Without them almost every answer is a 404.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import APIOperation, BaseSchema, HookContext

from tests.conformance.drifts import apply_drifts
from tests.conformance.specs import (
    DATA_PATHS,
    EXPORT_PATH,
    METRICS_PATH,
    RETRIEVE_PATH,
    TOKEN_PATH,
    Json,
    Specs,
    load_raw_specs,
)
from zuora_workflow_sync.simulator import SimulatorAdmin, SimulatorServer, TenantCredentials

TENANT = "tenant-001"  # production, single entity, 12 workflows in the session simulator
Strategy = st.SearchStrategy[Any]
Operation = APIOperation[Any, Any, Any, Any]


@dataclass(frozen=True)
class Catalog:
    """What tenant-001 really has: workflow ids, version strings, its entity id."""

    workflow_ids: tuple[int, ...]
    versions: tuple[str, ...]
    entity_id: str


@pytest.fixture(scope="session")
def raw_specs() -> Specs:
    return load_raw_specs()


@pytest.fixture(scope="session")
def patched_specs(raw_specs: Specs) -> Specs:
    return apply_drifts(raw_specs)


@pytest.fixture
def tenant(sim_admin: SimulatorAdmin) -> TenantCredentials:
    return sim_admin.credentials(TENANT)


@pytest.fixture
def http(simulator: SimulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=simulator.base_url, timeout=10.0) as client:
        yield client


def token_form(credentials: TenantCredentials) -> dict[str, str]:
    return {
        "client_id": credentials.client_id,
        "client_secret": credentials.client_secret,
        "grant_type": "client_credentials",
    }


@pytest.fixture
def token(http: httpx.Client, tenant: TenantCredentials) -> str:
    """A bearer token of tenant-001, obtained from the simulator's own `/oauth/token`."""
    response = http.post("/oauth/token", data=token_form(tenant))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture
def catalog(sim_admin: SimulatorAdmin, tenant: TenantCredentials) -> Catalog:
    workflows = sim_admin.workflows(TENANT)
    versions = {v["version"] for w in workflows for v in w["versions"]}
    (entity_id,) = tenant.entity_ids
    return Catalog(tuple(w["id"] for w in workflows), tuple(sorted(versions)), entity_id)


def build_schema(spec: Json, base_url: str, operations: tuple[tuple[str, str], ...]) -> BaseSchema:
    """A schemathesis schema of `spec` limited to `operations`, calling `base_url`."""
    schema = schemathesis.openapi.from_dict(copy.deepcopy(spec))
    schema.config.update(base_url=base_url)
    wanted = {(method.upper(), path) for method, path in operations}
    return schema.include(lambda ctx: (ctx.operation.method.upper(), ctx.operation.path) in wanted)


@dataclass(frozen=True)
class Schemas:
    """Unsteered schemathesis schemas of the served operations: patched, and raw for contrast."""

    patched_data: BaseSchema
    patched_token: BaseSchema
    raw_data: BaseSchema
    raw_token: BaseSchema

    def operation(self, method: str, path: str, *, raw: bool = False) -> Operation:
        if path == TOKEN_PATH:
            schema = self.raw_token if raw else self.patched_token
        else:
            schema = self.raw_data if raw else self.patched_data
        found: Operation = schema[path][method]
        return found


@pytest.fixture
def schemas(simulator: SimulatorServer, raw_specs: Specs, patched_specs: Specs) -> Schemas:
    gets = tuple(("GET", path) for path in DATA_PATHS)
    token = (("POST", TOKEN_PATH),)
    url = simulator.base_url
    return Schemas(
        patched_data=build_schema(patched_specs.workflows, url, gets),
        patched_token=build_schema(patched_specs.oauth, url, token),
        raw_data=build_schema(raw_specs.workflows, url, gets),
        raw_token=build_schema(raw_specs.oauth, url, token),
    )


@pytest.fixture
def data_schema(simulator: SimulatorServer, patched_specs: Specs, catalog: Catalog) -> BaseSchema:
    schema = build_schema(
        patched_specs.workflows, simulator.base_url, tuple(("GET", p) for p in DATA_PATHS)
    )
    _steer_data_generation(schema, catalog)
    return schema


@pytest.fixture
def token_schema(
    simulator: SimulatorServer,
    sim_admin: SimulatorAdmin,
    patched_specs: Specs,
    tenant: TenantCredentials,
) -> BaseSchema:
    # The per-IP limit (100 token calls a minute) would turn most generated calls into 429s; the
    # `simulator` fixture restores the setting before the next test.
    sim_admin.update_settings(token_ip_limit_enabled=False)
    schema = build_schema(patched_specs.oauth, simulator.base_url, (("POST", TOKEN_PATH),))
    real_form = st.just(token_form(tenant))

    def before_generate_body(context: HookContext, strategy: Strategy) -> Strategy:
        return st.one_of(real_form, strategy)

    schema.hook(before_generate_body)
    return schema


def _mostly(preferred: Strategy, generated: Strategy) -> Strategy:
    """`preferred` about two times in three, else what schemathesis generated."""
    return st.one_of(preferred, preferred, generated)


def _steer_data_generation(schema: BaseSchema, catalog: Catalog) -> None:
    real_ids = st.sampled_from(catalog.workflow_ids)
    versions = st.sampled_from(("latest", *catalog.versions, "9.9.9", "1"))

    def before_generate_path_parameters(context: HookContext, strategy: Strategy) -> Strategy:
        operation = context.operation
        if operation is None or "{workflow_id}" not in operation.path:
            return strategy
        # `workflow_id` is a string on GET /workflows/{id} and an integer on /versions, /export.
        ids = real_ids.map(str) if operation.path == RETRIEVE_PATH else real_ids
        return _mostly(st.fixed_dictionaries({"workflow_id": ids}), strategy)

    def before_generate_headers(context: HookContext, strategy: Strategy) -> Strategy:
        # A generated `Zuora-Entity-Ids` is never the tenant's: send the real one, or none.
        # Negative-mode values come wrapped (with their mutation's metadata) and are left alone.
        def entity(headers: Any, real: bool) -> Any:
            if headers is not None and not isinstance(headers, dict):
                return headers
            kept = {k: v for k, v in (headers or {}).items() if k.lower() != "zuora-entity-ids"}
            return {**kept, "Zuora-Entity-Ids": catalog.entity_id} if real else kept

        steered = st.tuples(strategy, st.booleans()).map(lambda pair: entity(*pair))
        return _mostly(steered, strategy)

    def before_generate_query(context: HookContext, strategy: Strategy) -> Strategy:
        operation = context.operation
        if operation is not None and operation.path == EXPORT_PATH:
            real: Strategy = st.one_of(st.fixed_dictionaries({"version": versions}), st.just({}))
            return _mostly(real, strategy)
        if operation is not None and operation.path == METRICS_PATH:
            return _mostly(_metrics_query(), strategy)
        return strategy

    schema.hook(before_generate_path_parameters)
    schema.hook(before_generate_headers)
    schema.hook(before_generate_query)


def _metrics_query() -> Strategy:
    """Valid `startDate`/`endDate` (1 to 60 days apart) with `metrics=taskCount`."""
    starts = st.dates(min_value=date(2019, 1, 1), max_value=date(2026, 12, 31))
    spans = st.integers(min_value=0, max_value=59)
    return st.builds(
        lambda start, span: {
            "startDate": start.isoformat(),
            "endDate": (start + timedelta(days=span)).isoformat(),
            "metrics": "taskCount",
        },
        starts,
        spans,
    )
