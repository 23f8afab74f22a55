"""How long the CLI takes to start: `workflow-sync --help`, `workflow-sync status`,
`sync-workflows --dry-run`, a dispatch of one customer and a worker draining an empty queue,
each a fresh process, best of N and median, wall clock and CPU.

The embedded default (SQLite data and queue under ZWS_HOME) with a demo-like store: 3 customers
x 20 workflows, seeded through the store as syncs write it (`read_seed.py`), every version up to
the active one in the history. Each command runs once untimed (the page cache), then N times,
the commands taking turns. Processes run the console scripts of this checkout's .venv; with
`--compare-ref GITREF` a detached worktree of that commit is built in a temporary folder (its
`src` compiled to bytecode, as `scripts/bootstrap` does) and run with the same interpreter and
packages (`PYTHONPATH` points at its `src`), the two trees taking turns on copies of one store:
before / after and their ratio (wall, best of N) in one table. Floors are measured beside them:
the interpreter alone, a bare two-command Typer app's `--help`, and the imports a command that
opens the store cannot do without. `--profile` runs each command under
`python -X importtime` (5 times, the least time of each module kept) and prints its ten
costliest imports (cumulative time of the first, outermost import of each top-level package,
and the self time of all its modules).

    .venv/bin/python benchmarks/cli_start.py                       # this tree, best of 10
    .venv/bin/python benchmarks/cli_start.py --compare-ref main    # main against this tree
    .venv/bin/python benchmarks/cli_start.py --profile --runs 3    # and what each imports
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import read_seed
from zuora_workflow_sync.store import migrate
from zuora_workflow_sync.store.engine import create_engine_for
from zuora_workflow_sync.store.secrets import Keyring

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
COMMANDS: dict[str, list[str]] = {
    "workflow-sync --help": ["workflow-sync", "--help"],
    "workflow-sync status": ["workflow-sync", "status"],
    "sync-workflows --dry-run": ["sync-workflows", "--dry-run"],
    # A dispatch that opens the SQLite queue (the first queues a run of customer 1, the rest find
    # it active), and a worker that drains an empty queue: what a cron job and a fleet pay.
    "sync-workflows --force 1": ["sync-workflows", "--force", "--queue=bench", "1"],
    "worker --drain (idle)": ["workflow-sync", "worker", "--drain", "--queue=idle"],
}
# What no code of the project can go below: the interpreter, Typer's rich help, and what a command
# that opens the store must import (SQLAlchemy's ORM and SQLite dialect, the settings, a table).
FLOORS: dict[str, list[str]] = {
    "floor: python -c pass": ["python", "-c", "pass"],
    "floor: Typer app --help": [
        "python",
        "-c",
        "import typer\napp = typer.Typer(add_completion=False)\n"
        "@app.command()\ndef status() -> None:\n    pass\n"
        "@app.command()\ndef runs() -> None:\n    pass\napp()",
        "--help",
    ],
    "floor: store imports": [
        "python",
        "-c",
        "import sqlalchemy.orm, sqlalchemy.dialects.sqlite, pydantic_settings, typer, rich.table",
    ],
}
TARGET_SECONDS = 0.3
BENCH_KEY = Keyring.generate_key()
_IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")


@dataclass
class Tree:
    """A source tree under test: its label and its `src` folder."""

    label: str
    src: Path
    home: Path
    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)


def seed_home(home: Path, customers: int, workflows: int) -> None:
    """A ZWS_HOME whose store holds `customers` synced customers of `workflows` workflows."""
    home.mkdir(parents=True)
    url = f"sqlite:///{home / 'zws.sqlite3'}"
    migrate.upgrade(url)
    engine = create_engine_for(url)
    try:
        read_seed.seed(engine, customers, workflows, lambda _line: None)
    finally:
        engine.dispose()


def environment(tree: Tree, *, importtime: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(tree.src), ZWS_HOME=str(tree.home), ZWS_LOG_LEVEL="WARNING")
    # The seed encrypted the secrets with a key it did not keep; a dispatch only checks that
    # a key is there (it decrypts nothing), and no command here runs a sync.
    env["ZWS_SECRET_KEYS"] = BENCH_KEY
    for name in ("ZWS_DATABASE_URL", "ZWS_QUEUE_URL", "ZWS_COORDINATION_URL", "ZWS_LOG_FILE"):
        env.pop(name, None)
    if importtime:
        env["PYTHONPROFILEIMPORTTIME"] = "1"
    return env


def run_once(tree: Tree, argv: list[str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system of the child) and stderr of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [str(BIN / argv[0]), *argv[1:]],
        env=environment(tree),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{tree.label}: {' '.join(argv)} failed: {done.stderr.strip()[-400:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stderr


def measure(trees: list[Tree], runs: int) -> None:
    for tree in trees:
        for argv in COMMANDS.values():
            run_once(tree, argv)  # untimed: the page cache
    for _ in range(runs):
        for name, argv in COMMANDS.items():
            for tree in trees:
                _record(tree, name, argv)
        for name, argv in FLOORS.items():
            _record(trees[-1], name, argv)


def _record(tree: Tree, name: str, argv: list[str]) -> None:
    wall, cpu, _stderr = run_once(tree, argv)
    tree.wall.setdefault(name, []).append(wall)
    tree.cpu.setdefault(name, []).append(cpu)


def print_figures(trees: list[Tree], runs: int) -> None:
    print(
        f"best of {runs} (median), seconds; CPU = user + system of the process (the least); "
        f"target <= {TARGET_SECONDS} s; load average {os.getloadavg()[0]:.1f}"
    )
    header = f"{'command':<26}"
    for tree in trees:
        header += f"{tree.label + ' wall':>22}{'CPU':>7}"
    if len(trees) == 2:
        header += f"{'ratio':>8}{'CPU ratio':>10}"
    print(header)
    for name in COMMANDS:
        line = f"{name:<26}"
        for tree in trees:
            best, median = min(tree.wall[name]), statistics.median(tree.wall[name])
            line += f"{best:>12.3f} ({median:.3f}){min(tree.cpu[name]):>7.3f}"
        if len(trees) == 2:
            before, after = trees
            line += f"{min(before.wall[name]) / min(after.wall[name]):>7.1f}x"
            line += f"{min(before.cpu[name]) / min(after.cpu[name]):>9.1f}x"
        print(line)
    for name in FLOORS:
        wall, cpu = trees[-1].wall[name], trees[-1].cpu[name]
        print(f"{name:<26}{min(wall):>12.3f} ({statistics.median(wall):.3f}){min(cpu):>7.3f}")


def import_times(stderr: str) -> dict[str, tuple[int, int]]:
    """Each module's (self µs, cumulative µs) from `-X importtime` output."""
    times: dict[str, tuple[int, int]] = {}
    for line in stderr.splitlines():
        found = _IMPORT_LINE.match(line)
        if found is not None:
            times[found[4]] = (int(found[1]), int(found[2]))
    return times


def fastest(runs: list[dict[str, tuple[int, int]]]) -> dict[str, tuple[int, int]]:
    """Per module, the least self and cumulative time over the runs (the machine's noise)."""
    merged: dict[str, tuple[int, int]] = {}
    for times in runs:
        for name, (self_us, cumulative_us) in times.items():
            old = merged.get(name, (self_us, cumulative_us))
            merged[name] = (min(old[0], self_us), min(old[1], cumulative_us))
    return merged


def import_profile(times: dict[str, tuple[int, int]], top: int) -> list[tuple[str, int, int]]:
    """(top-level package, cumulative µs of its first outermost import, self µs of all its
    modules), costliest first; the project's own package is left out (it holds everything)."""
    cumulative: dict[str, int] = {}
    own: dict[str, int] = {}
    for name, (self_us, cumulative_us) in times.items():
        root = name.split(".")[0]
        own[root] = own.get(root, 0) + self_us
        cumulative[root] = max(cumulative.get(root, 0), cumulative_us)
    rows = [(root, cumulative[root], own[root]) for root in own if root != "zuora_workflow_sync"]
    rows.sort(key=lambda row: row[1], reverse=True)
    return rows[:top]


def print_profiles(trees: list[Tree], top: int, runs: int) -> None:
    for tree in trees:
        for name, argv in COMMANDS.items():
            times = fastest([_importtime(tree, argv) for _ in range(runs)])
            total = sum(self_us for self_us, _cumulative in times.values())
            print(f"\n{tree.label}: {name}: {len(times)} modules, {total / 1e6:.3f} s importing")
            print(f"  {'package':<24}{'cumulative ms':>14}{'self ms':>9}")
            for root, cumulative_us, self_us in import_profile(times, top):
                print(f"  {root:<24}{cumulative_us / 1e3:>14.1f}{self_us / 1e3:>9.1f}")


def _importtime(tree: Tree, argv: list[str]) -> dict[str, tuple[int, int]]:
    done = subprocess.run(
        [str(BIN / argv[0]), *argv[1:]],
        env=environment(tree, importtime=True),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return import_times(done.stderr)


@contextmanager
def ref_tree(ref: str, folder: Path) -> Iterator[Path]:
    """A detached worktree of `ref` with its `src` compiled; removed afterwards."""
    path = folder / "worktree"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(path), ref],
        check=True,
    )
    try:
        subprocess.run(
            [str(BIN / "python"), "-m", "compileall", "-q", "-j", "0", str(path / "src")],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        yield path / "src"
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], check=False
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs per command")
    parser.add_argument("--customers", type=int, default=3)
    parser.add_argument("--workflows", type=int, default=20)
    parser.add_argument("--compare-ref", metavar="GITREF", help="measure this commit too")
    parser.add_argument("--profile", action="store_true", help="print each command's imports")
    parser.add_argument("--top", type=int, default=10, help="imports shown per command")
    parser.add_argument(
        "--profile-runs", type=int, default=5, help="importtime runs (least time per module)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zws-cli-start-") as temporary:
        folder = Path(temporary)
        seed_home(folder / "seed", args.customers, args.workflows)
        with _trees(folder, args.compare_ref) as trees:
            measure(trees, args.runs)
            python = sys.version.split()[0]
            print(f"{args.customers} customers x {args.workflows} workflows, SQLite, {python}")
            print_figures(trees, args.runs)
            if args.profile:
                print_profiles(trees, args.top, args.profile_runs)


@contextmanager
def _trees(folder: Path, compare_ref: str | None) -> Iterator[list[Tree]]:
    def home(label: str) -> Path:
        path = folder / label
        shutil.copytree(folder / "seed", path)
        return path

    this = Tree("this tree", ROOT / "src", home("this"))
    if compare_ref is None:
        yield [this]
        return
    with ref_tree(compare_ref, folder) as src:
        yield [Tree(compare_ref, src, home("ref")), this]


if __name__ == "__main__":
    main()
