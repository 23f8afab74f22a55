"""p50 / p95 of the read side on a store of 1,000 customers x 50 workflows, SQLite and PostgreSQL.

Seeds a throwaway database through the store as syncs write it (`read_seed.py`: the simulator's
workflows, about 7.5 tasks each, every version up to the active one in the history), then times
in this process, with `time.perf_counter`, what `workflow-sync ... --json` and the web app call:
the catalog function and the JSON shape of its result. Operations take turns, each call with
inputs drawn from a seeded random generator: one customer's workflows (`workflows list
--customer C`, the first page of 50), one workflow (`workflows show C:ZUORA_ID`), every task of
an action type across all customers (`tasks search --action-type T`, first page), a URL
substring across all customers (`tasks search --text TEXT`: a host in a quarter of the Callouts,
a host and path in a twelfth, a rare URL, and one that matches nothing) and the diff of a
workflow's two newest versions (`workflows diff`). The searches also get a row per input.
PostgreSQL gets VACUUM ANALYZE after the seed (what autovacuum does to a table of new rows);
SQLite nothing (the product never runs ANALYZE). Caches are warm: each input is called once
before the timed calls.

    .venv/bin/python benchmarks/read_paths.py                      # both, 1,000 x 50, 100 calls
    .venv/bin/python benchmarks/read_paths.py --customers 3 --workflows 4 --iterations 3 \\
        --configuration sqlite                                     # a smoke run, seconds
    .venv/bin/python benchmarks/read_paths.py --configuration postgres --keep   # keep it seeded
    .venv/bin/python benchmarks/read_paths.py --database-url URL   # measure a kept one again
    .venv/bin/python benchmarks/read_paths.py --explain ...        # and the text search's plans
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.engine import make_url

import read_seed
from zuora_workflow_sync.catalog.pages import DEFAULT_LIMIT
from zuora_workflow_sync.catalog.references import resolve_customer
from zuora_workflow_sync.catalog.shapes import (
    comparison_json,
    page_json,
    summary_json,
    task_hit_json,
    workflow_json,
)
from zuora_workflow_sync.catalog.tasks import search_tasks
from zuora_workflow_sync.catalog.workflows import compare_versions, list_workflows, show_workflow
from zuora_workflow_sync.domain.records import TaskFilter, WorkflowFilter
from zuora_workflow_sync.store import migrate
from zuora_workflow_sync.store.engine import create_engine_for
from zuora_workflow_sync.store.search import task_text_matches
from zuora_workflow_sync.store.tables import WorkflowHistoryRow, WorkflowRow, WorkflowTaskRow

ACTION_TYPES = (
    ("Callout",),
    ("Query",),
    ("Email",),
    ("Logic::Lambda",),
    ("Callout", "Query", "If"),
)
TEXTS = (
    "hooks.example.com",  # one host of four: a quarter of the Callouts
    "crm.example.net/zuora/sync",  # a host and one of three paths: a twelfth
    read_seed.RARE_URL,  # one Callout in 1,000
    "api.nowhere.test",  # nothing
)
TARGET_MS = 100.0
TEXT_TARGET_MS = 300.0
CUSTOMER_SEARCHES = (TaskFilter(action_types=("Email",)), TaskFilter(text=TEXTS[0]))
LIST, SHOW, BY_TYPE, BY_TEXT, DIFF, CUSTOMER_TASKS = (
    "list one customer's workflows",
    "show one workflow",
    "tasks by action type, all customers",
    "tasks by --text, all customers",
    "diff of two versions",
    "one customer's tasks, by type or text",
)
OPERATIONS = (LIST, SHOW, BY_TYPE, BY_TEXT, DIFF, CUSTOMER_TASKS)


@dataclass(frozen=True)
class Options:
    configurations: list[str]
    customers: int
    workflows: int
    iterations: int
    keep: bool
    database_url: str | None
    admin_url: str
    explain: bool
    seed: int


@dataclass(frozen=True)
class Corpus:
    """What the inputs are drawn from: (customer id, Zuora id) of every live workflow, and of
    those with two or more stored versions."""

    workflows: list[tuple[int, int]]
    versioned: list[tuple[int, int]]


@dataclass(frozen=True)
class Call:
    """One operation with one input: `label` names the input in the per-input rows."""

    operation: str
    label: str
    run: Callable[[], object]


@dataclass(frozen=True)
class Row:
    operation: str
    configuration: str
    samples_ms: list[float]
    target_ms: float | None

    def cells(self) -> list[str]:
        ordered = sorted(self.samples_ms)
        p50 = statistics.median(ordered)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        met = "" if self.target_ms is None else "met" if p95 <= self.target_ms else "NOT met"
        target = "" if self.target_ms is None else f"{self.target_ms:g}"
        numbers = [f"{value:.1f}" for value in (p50, p95, ordered[-1])]
        return [self.operation, self.configuration, *numbers, target, met]


def parse_args() -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configuration", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--workflows", type=int, default=50, help="per customer")
    parser.add_argument("--iterations", type=int, default=100, help="timed calls per operation")
    parser.add_argument("--keep", action="store_true", help="keep the seeded database(s)")
    parser.add_argument("--database-url", help="measure this seeded database (no seed, kept)")
    parser.add_argument("--admin-url", default=read_seed.ADMIN_POSTGRES, help="PostgreSQL admin")
    parser.add_argument("--explain", action="store_true", help="print the text search's plans")
    parser.add_argument("--seed", type=int, default=12, help="of the inputs' random generator")
    args = parser.parse_args()
    if min(args.customers, args.workflows, args.iterations) < 1:
        parser.error("--customers, --workflows and --iterations must be at least 1")
    if args.database_url is not None:
        configurations = [_configuration_of(args.database_url)]
    elif args.configuration == "both":
        configurations = ["sqlite", "postgres"]
    else:
        configurations = [args.configuration]
    return Options(
        configurations=configurations,
        customers=args.customers,
        workflows=args.workflows,
        iterations=args.iterations,
        keep=args.keep,
        database_url=args.database_url,
        admin_url=args.admin_url,
        explain=args.explain,
        seed=args.seed,
    )


def _configuration_of(url: str) -> str:
    backend = make_url(url).get_backend_name()
    return "postgres" if backend == "postgresql" else backend


# -- the database ----------------------------------------------------------------------------------


@contextmanager
def seeded(options: Options, configuration: str) -> Iterator[Engine]:
    """An engine on a seeded database: the one given, else a new one seeded now."""
    if options.database_url is not None:
        migrate.upgrade(options.database_url)
        with _engine(options.database_url) as engine:
            yield engine
        return
    database = read_seed.throwaway_database(configuration, options.admin_url, options.keep)
    with database as url, _engine(url) as engine:
        figures = read_seed.seed(engine, options.customers, options.workflows, print)
        print(f"{configuration}: {figures.line()}", flush=True)
        if configuration == "postgres":
            _vacuum_analyze(engine)
        print(f"{configuration}: database size {_size_mb(engine):,.0f} MB")
        if options.keep:
            print(f"{configuration}: kept, reuse with --database-url {url}")
        yield engine


@contextmanager
def _engine(url: str) -> Iterator[Engine]:
    engine = create_engine_for(url)
    try:
        yield engine
    finally:
        engine.dispose()


def _vacuum_analyze(engine: Engine) -> None:
    started = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    print(f"postgres: VACUUM ANALYZE {time.perf_counter() - started:.1f} s")


def _size_mb(engine: Engine) -> float:
    if engine.dialect.name == "sqlite":
        query = "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
    else:
        query = "SELECT pg_database_size(current_database())"
    with engine.connect() as conn:
        return float(conn.execute(text(query)).scalar_one()) / 1e6


def load_corpus(engine: Engine) -> Corpus:
    versions = (
        select(WorkflowHistoryRow.workflow_id, func.count().label("entries"))
        .group_by(WorkflowHistoryRow.workflow_id)
        .subquery()
    )
    query = (
        select(WorkflowRow.customer_id, WorkflowRow.zuora_workflow_id, versions.c.entries)
        .join(versions, versions.c.workflow_id == WorkflowRow.id)
        .where(WorkflowRow.deleted_at.is_(None))
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    workflows = [(row[0], row[1]) for row in rows]
    versioned = [(row[0], row[1]) for row in rows if row[2] >= 2]
    if not versioned:
        raise SystemExit("no workflow has two stored versions: seed more customers")
    return Corpus(workflows, versioned)


def hit_counts(engine: Engine) -> dict[str, int]:
    """How many tasks each search input matches in the whole store (untimed), by its label."""
    counts: dict[str, int] = {}
    with engine.connect() as conn:
        for names in ACTION_TYPES:
            query = select(func.count()).where(WorkflowTaskRow.action_type.in_(names))
            counts[", ".join(names)] = int(conn.execute(query).scalar_one())
        for term in TEXTS:
            matches = task_text_matches(engine.dialect.name, WorkflowTaskRow.id, term)
            query = select(func.count()).select_from(WorkflowTaskRow).where(matches)
            counts[term] = int(conn.execute(query).scalar_one())
        counts["tasks"] = int(conn.execute(select(func.count(WorkflowTaskRow.id))).scalar_one())
    return counts


# -- the calls -------------------------------------------------------------------------------------


def _reference(pair: tuple[int, int]) -> str:
    return f"{pair[0]}:{pair[1]}"


def list_call(engine: Engine, rng: random.Random, corpus: Corpus) -> Call:
    customer = str(rng.choice(corpus.workflows)[0])

    def run() -> object:
        customer_id = resolve_customer(engine, customer).id
        page = list_workflows(engine, WorkflowFilter(customer_id=customer_id), limit=DEFAULT_LIMIT)
        return page_json(page, summary_json)

    return Call(LIST, "", run)


def show_call(engine: Engine, rng: random.Random, corpus: Corpus) -> Call:
    reference = _reference(rng.choice(corpus.workflows))
    return Call(SHOW, "", lambda: workflow_json(show_workflow(engine, reference)))


def diff_call(engine: Engine, rng: random.Random, corpus: Corpus) -> Call:
    reference = _reference(rng.choice(corpus.versioned))
    return Call(DIFF, "", lambda: comparison_json(compare_versions(engine, reference)))


def search_call(engine: Engine, operation: str, wanted: TaskFilter, label: str) -> Call:
    def run() -> object:
        page = search_tasks(engine, wanted, limit=DEFAULT_LIMIT)
        return page_json(page, task_hit_json)

    return Call(operation, label, run)


def search_calls(engine: Engine, counts: dict[str, int]) -> tuple[list[Call], list[Call]]:
    """A call per input of the two searches across customers; they take turns."""
    by_type = []
    for names in ACTION_TYPES:
        label = ", ".join(names)
        wanted = TaskFilter(action_types=names)
        by_type.append(search_call(engine, BY_TYPE, wanted, f"{label} ({counts[label]:,} tasks)"))
    by_text = [
        search_call(engine, BY_TEXT, TaskFilter(text=term), f"{term} ({counts[term]:,} tasks)")
        for term in TEXTS
    ]
    return by_type, by_text


def customer_search_call(engine: Engine, rng: random.Random, corpus: Corpus, turn: int) -> Call:
    """`tasks search --customer C` with an action type or a text, by turns."""
    shape = CUSTOMER_SEARCHES[turn % len(CUSTOMER_SEARCHES)]
    wanted = replace(shape, customer_id=rng.choice(corpus.workflows)[0])
    label = shape.text or ", ".join(shape.action_types)
    return search_call(engine, CUSTOMER_TASKS, wanted, label)


def timed_rounds(
    engine: Engine, corpus: Corpus, counts: dict[str, int], options: Options
) -> dict[tuple[str, str], list[float]]:
    """Every operation in turn, `iterations` times; milliseconds per (operation, input)."""
    rng = random.Random(options.seed)
    by_type, by_text = search_calls(engine, counts)
    for call in by_type + by_text:  # warm caches and compiled statements
        call.run()
    samples: dict[tuple[str, str], list[float]] = {}
    for turn in range(options.iterations):
        calls = [
            list_call(engine, rng, corpus),
            show_call(engine, rng, corpus),
            by_type[turn % len(by_type)],
            by_text[turn % len(by_text)],
            diff_call(engine, rng, corpus),
            customer_search_call(engine, rng, corpus, turn),
        ]
        for call in calls:
            started = time.perf_counter()
            call.run()
            elapsed = (time.perf_counter() - started) * 1000.0
            samples.setdefault((call.operation, call.label), []).append(elapsed)
    return samples


def rows_of(configuration: str, samples: dict[tuple[str, str], list[float]]) -> list[Row]:
    """An operation's row over all its inputs, then (searches) a row per input."""
    rows: list[Row] = []
    for operation in OPERATIONS:
        keys = [key for key in samples if key[0] == operation]
        target = TEXT_TARGET_MS if operation == BY_TEXT else TARGET_MS
        merged = [value for key in keys for value in samples[key]]
        rows.append(Row(operation, configuration, merged, target))
        rows += [Row(f"  {key[1]}", configuration, samples[key], None) for key in keys if key[1]]
    return rows


# -- plans -----------------------------------------------------------------------------------------


def explain_text_search(engine: Engine) -> None:
    """The plan of each text search's SQL, as the catalog sends it."""
    for term in TEXTS:
        statement, parameters = _captured_search(engine, term)
        print(f"\n{engine.dialect.name} plan, --text {term!r}:")
        for line in _plan(engine, statement, parameters):
            print(f"  {line}")


def _captured_search(engine: Engine, term: str) -> tuple[str, Any]:
    captured: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "workflow_tasks" in statement and not captured:
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        search_tasks(engine, TaskFilter(text=term), limit=DEFAULT_LIMIT)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    return captured[0]


def _plan(engine: Engine, statement: str, parameters: Any) -> list[str]:
    sqlite = engine.dialect.name == "sqlite"
    prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + statement, parameters).all()
    return [f"{row[1]:>3} {row[3]}" if sqlite else str(row[0]) for row in rows]


# -- the run ---------------------------------------------------------------------------------------


def measure(options: Options, configuration: str) -> list[Row]:
    with seeded(options, configuration) as engine:
        corpus = load_corpus(engine)
        counts = hit_counts(engine)
        print(
            f"{configuration}: measuring over {len(corpus.workflows):,} workflows "
            f"({len(corpus.versioned):,} with 2+ versions), {counts['tasks']:,} tasks, "
            f"{options.iterations} calls per operation",
            flush=True,
        )
        samples = timed_rounds(engine, corpus, counts, options)
        if options.explain:
            explain_text_search(engine)
    return rows_of(configuration, samples)


def print_table(rows: list[Row]) -> None:
    header = ["operation", "configuration", "p50 ms", "p95 ms", "max ms", "target", "met"]
    table = [header, *(row.cells() for row in rows)]
    widths = [max(len(line[column]) for line in table) for column in range(len(header))]
    print()
    for line in table:
        left = [line[0].ljust(widths[0]), line[1].ljust(widths[1])]
        right = [cell.rjust(width) for cell, width in zip(line[2:], widths[2:], strict=True)]
        print("  ".join(left + right))


def main() -> None:
    options = parse_args()
    rows: list[Row] = []
    for configuration in options.configurations:
        rows += measure(options, configuration)
    print_table(rows)


if __name__ == "__main__":
    main()
