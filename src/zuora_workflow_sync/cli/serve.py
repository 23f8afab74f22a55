"""`workflow-sync serve [--host 127.0.0.1] [--port 8000]`: the dashboard, served by uvicorn.

Loopback by default. Any other address is refused unless `ZWS_DASHBOARD_TOKEN` is set (then a
login is needed). The web packages come with the `[web]` extra and are imported only here, when
the command runs, so the rest of the CLI starts without them.
"""

from __future__ import annotations

import importlib.util
import ipaddress
from typing import Annotated

import typer

from zuora_workflow_sync.cli.common import command_errors, settings_for_command
from zuora_workflow_sync.drivers import missing_extra
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.runtime import build_runtime
from zuora_workflow_sync.settings import Settings

_WEB_PACKAGES = ("starlette", "jinja2", "uvicorn", "python_multipart", "itsdangerous")


def require_web() -> None:
    """ConfigurationError naming the `[web]` extra unless its packages are installed."""
    for name in _WEB_PACKAGES:
        try:
            importlib.import_module(name)
        except ImportError:
            raise missing_extra("Dashboard", "web") from None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_binding(host: str, settings: Settings) -> None:
    """Refuse a non-loopback address without a login token (anyone could act)."""
    if not is_loopback(host) and settings.dashboard_token is None:
        raise ConfigurationError(
            f"refusing to serve the dashboard on {host} without ZWS_DASHBOARD_TOKEN: set it "
            "(and optionally ZWS_DASHBOARD_READ_TOKEN), or serve on 127.0.0.1"
        )


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """Serve the web dashboard and its /metrics (needs the web extra)."""
    with command_errors():
        settings = settings_for_command()
        require_web()
        check_binding(host, settings)
        with build_runtime(settings) as runtime:
            import uvicorn

            from zuora_workflow_sync.web.app import create_app

            app = create_app(runtime)
            typer.echo(f"Dashboard on http://{host}:{port}/")
            uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False)
