"""`workflow-sync serve`: loopback by default, refused elsewhere without a login token, a
one-line error naming the `[web]` extra when it is not installed; and the rest of the CLI
never imports the web packages or prometheus_client (start-up time)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zuora_workflow_sync.cli import app
from zuora_workflow_sync.cli.serve import is_loopback

WEB = ("starlette", "jinja2", "uvicorn", "python_multipart", "itsdangerous")
WITHOUT_WEB = f"""
import sys
from importlib.abc import MetaPathFinder

class Absent(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {WEB!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Absent())
sys.argv = ["workflow-sync", *sys.argv[1:]]
from zuora_workflow_sync.cli import main
main()
"""
HELP_IMPORTS = """
import sys
from zuora_workflow_sync.cli import app
try:
    app(["--help"])
except SystemExit:
    pass
heavy = ("starlette", "jinja2", "uvicorn", "prometheus_client", "graphviz", "grandalf")
print(",".join(sorted(name for name in heavy if name in sys.modules)) or "none")
"""


def _environment(home: Path, **extra: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("ZWS_")}
    return {**environment, "ZWS_HOME": str(home), **extra}


def test_serve_refuses_another_address_when_no_token_is_set(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0"], env=_environment(tmp_path))
    assert result.exit_code == 1, (result.stdout, result.stderr, result.exception)
    assert result.stderr.strip() == (
        "Error: refusing to serve the dashboard on 0.0.0.0 without ZWS_DASHBOARD_TOKEN: set it "
        "(and optionally ZWS_DASHBOARD_READ_TOKEN), or serve on 127.0.0.1"
    )
    assert not (tmp_path / "zws.sqlite3").exists()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.0.0.5", False),
        ("example.org", False),
    ],
)
def test_loopback_is_recognised_when_given_an_address(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_serve_names_the_extra_when_the_web_packages_are_missing(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_WEB, "serve"],
        env=_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: Dashboard support is not installed: pip install 'zuora-workflow-sync[web]'"
    )


def test_cli_help_imports_no_web_package_when_run(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", HELP_IMPORTS],
        env=_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == "none"
