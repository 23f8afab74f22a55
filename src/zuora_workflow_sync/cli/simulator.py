"""`workflow-sync simulator`: serve the Zuora simulator in the foreground."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zuora_workflow_sync.simulator.config import OverMaxPolicy, Settings, SimulatorConfig
from zuora_workflow_sync.simulator.generation import ensure_documents
from zuora_workflow_sync.simulator.server import SimulatorServer
from zuora_workflow_sync.simulator.tenants import dump_universe


def _print_tenants(server: SimulatorServer) -> None:
    # The one place where printing a secret is right: the simulator's own, made-up credentials.
    for tenant in server.tenants():
        typer.echo(
            f"{tenant.name}  {server.base_url}  client_id={tenant.client_id}  "
            f"client_secret={tenant.client_secret}"
        )


def simulator(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port; 0 picks a free one.")] = 8080,
    tenants: Annotated[int, typer.Option(min=0, help="Tenants to generate.")] = 3,
    workflows: Annotated[int, typer.Option(min=0, help="Workflows per generated tenant.")] = 25,
    seed: Annotated[int, typer.Option(help="Seed of the generated data and faults.")] = 1,
    latency_ms: Annotated[float, typer.Option(min=0, help="Mean added latency.")] = 0.0,
    latency_jitter_ms: Annotated[float, typer.Option(min=0, help="Latency +/- jitter.")] = 0.0,
    tenants_file: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Load tenants from this JSON.")
    ] = None,
    dump_tenants: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Write the tenants JSON here first.")
    ] = None,
    token_ttl: Annotated[int, typer.Option(min=1, help="Token expires_in seconds.")] = 3599,
    concurrency_limit: Annotated[int, typer.Option(min=1, help="Per-tenant in-flight cap.")] = 40,
    concurrency_headers: Annotated[
        bool, typer.Option(help="Send Concurrency-Limit-* headers on /workflows*.")
    ] = False,
    reject_page_length_over_max: Annotated[
        bool, typer.Option(help="400 instead of clamping page_length over 50.")
    ] = False,
    token_ip_limit: Annotated[int, typer.Option(min=1, help="Token requests/min per IP.")] = 100,
    enforce_token_ip_limit: Annotated[bool, typer.Option(help="429 past the per-IP limit.")] = True,
) -> None:
    """Serve a simulated multi-tenant Zuora Workflow API until SIGINT or SIGTERM."""
    over_max = OverMaxPolicy.REJECT if reject_page_length_over_max else OverMaxPolicy.CLAMP
    settings = Settings(
        token_ttl_seconds=token_ttl,
        latency_ms=latency_ms,
        latency_jitter_ms=latency_jitter_ms,
        concurrency_limit=concurrency_limit,
        concurrency_headers=concurrency_headers,
        page_length_over_max=over_max,
        token_ip_limit_per_minute=token_ip_limit,
        token_ip_limit_enabled=enforce_token_ip_limit,
    )
    config = SimulatorConfig(
        host=host,
        port=port,
        tenants=tenants,
        workflows=workflows,
        seed=seed,
        tenants_file=tenants_file,
        settings=settings,
    )
    server = SimulatorServer(config)
    if dump_tenants is not None:
        _dump(server, dump_tenants)
    server.serve_forever(on_ready=_print_tenants)


def _dump(server: SimulatorServer, path: Path) -> None:
    universe = server.state.universe
    for tenant in universe.tenants.values():
        for workflow in tenant.workflows.values():
            ensure_documents(workflow)
    dump_universe(universe, path)
