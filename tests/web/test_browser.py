"""The dashboard in a real browser: Playwright drives Debian's chromium (`/usr/bin/chromium`;
.ci/run installs it) against a real uvicorn serving a real sync of the simulator. Each main
page is screenshotted under the test's temporary folder (and the workflow page also to
`$DOCS_SCREENSHOT` when set: how docs/ gets its picture)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.services import service_missing
from tests.synced import TENANTS, Synced
from tests.web.conftest import READ_TOKEN, TOKEN, LiveServer

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.slow


# Module scope, not session: Playwright's sync API keeps an event loop running in this thread
# while it is open, so a test of another module run later by the same process (pytest-xdist
# mixes them) could no longer call asyncio.run().
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        service_missing(f"{CHROMIUM} is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url, accept_downloads=True)
    opened = context.new_page()
    yield opened
    context.close()


def _log_in(page: Page, token: str) -> None:
    page.goto("/")
    assert "/login" in page.url
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def _shot(page: Page, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000
    return path


def test_operator_walks_from_customers_to_a_workflow_and_its_tasks(
    page: Page, synced: Synced, tmp_path: Path
) -> None:
    _log_in(page, TOKEN)
    # expect() waits for the page a click leads to; count() and inner_text() would read
    # whatever is loaded at that instant (the page before, on a loaded machine).
    expect(page.locator("h1")).to_have_text("Overview")
    _shot(page, tmp_path, "overview")
    page.click("nav >> text=Customers")
    expect(page.locator("#customers tr")).to_have_count(1 + len(synced.customers))
    _shot(page, tmp_path, "customers")
    page.click(f"#customers >> text={synced.customers[0].name}")
    expect(page.locator("h1")).to_have_text(synced.customers[0].name)
    _shot(page, tmp_path, "customer")
    page.locator("#workflows a").first.click()
    page.wait_for_url("**/workflows/*")
    workflow_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    shown = synced.json("workflows", "show", workflow_id)
    assert len(shown["tasks"]) > 0
    expect(page.locator("h1")).to_have_text(shown["workflow"]["name"])
    expect(page.locator("#tasks tr")).to_have_count(1 + len(shown["tasks"]))
    expect(page.locator("#graph g.node")).to_have_count(len(shown["tasks"]) + 1)
    workflow_shot = _shot(page, tmp_path, "workflow")
    assert workflow_shot.exists()
    with page.expect_download() as download:
        page.click("#download-json")
    saved = tmp_path / "download.json"
    download.value.save_as(saved)
    assert (
        saved.read_text(encoding="utf-8") == synced.cli("workflows", "export", workflow_id).stdout
    )
    page.click("nav >> text=Tasks")
    page.fill("input[name=text]", "mail")
    page.click("form.filters button")
    page.wait_for_url("**/tasks?*text=mail*")
    expect(page.locator("#tasks tr").nth(1)).to_be_visible()
    _shot(page, tmp_path, "tasks")
    page.click("nav >> text=Runs")
    expect(page.locator("#runs tr")).to_have_count(1 + len(synced.runtime.ledger.list_runs()))
    _shot(page, tmp_path, "runs")
    page.locator("#runs a").first.click()
    expect(page.locator("#run-status")).to_have_text("succeeded")
    _shot(page, tmp_path, "run")
    if os.environ.get("DOCS_SCREENSHOT"):
        _docs_screenshot(page, synced, Path(os.environ["DOCS_SCREENSHOT"]))


def _docs_screenshot(page: Page, synced: Synced, path: Path) -> None:
    """README's picture: the page of a workflow with a middling number of tasks."""
    listed = synced.json("workflows", "list", "--limit", "1000")["items"]
    chosen = min(listed, key=lambda summary: abs(summary["task_count"] - 7))
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.goto(f"/workflows/{chosen['id']}")
    page.screenshot(path=str(path))


def test_a_change_made_in_zuora_shows_in_the_history_diff(
    page: Page, synced: Synced, tmp_path: Path
) -> None:
    zuora_id = int(synced.admin.workflows(TENANTS[0])[0]["id"])
    synced.admin.edit_workflow(TENANTS[0], zuora_id, name="Renamed in Zuora")
    synced.sync()
    reference = f"{synced.customers[0].id}:{zuora_id}"
    workflow_id = synced.json("workflows", "show", reference)["workflow"]["id"]
    _log_in(page, TOKEN)
    page.goto(f"/workflows/{workflow_id}")
    expect(page.locator("#history tr")).to_have_count(3)
    page.click("#compare")
    expect(page.locator("#diff-summary")).to_have_text("renamed")
    expect(page.locator("ins").first).to_contain_text("Renamed in Zuora")
    _shot(page, tmp_path, "diff")


def test_sync_now_leads_to_a_run_that_appears_in_runs_and_succeeds(
    page: Page, synced: Synced, tmp_path: Path
) -> None:
    customer = synced.add_customer("tenant-003", "Initech")
    _log_in(page, TOKEN)
    page.goto(f"/customers/{customer.id}")
    page.click("#action-sync")
    expect(page.locator(".flash")).to_have_text(
        ["Syncing workflows for customer: Initech", "Sync job dispatched for customer: Initech"]
    )
    drained = synced.worker("--drain")
    assert drained.returncode == 0, drained.stderr
    page.goto(f"/runs?customer={customer.id}")
    expect(page.locator("#runs tr")).to_have_count(2)
    expect(page.locator("#runs .status").first).to_have_text("succeeded")
    _shot(page, tmp_path, "runs-after-sync-now")


def test_viewer_cannot_act_in_the_browser(page: Page, synced: Synced) -> None:
    _log_in(page, READ_TOKEN)
    customer = synced.customers[0]
    page.goto(f"/customers/{customer.id}")
    assert page.locator("#action-sync").count() == 0
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    status = page.evaluate(
        """async ([path, csrf]) => {
            const body = new FormData(); body.append("csrf", csrf);
            return (await fetch(path, {method: "POST", body})).status;
        }""",
        [f"/customers/{customer.id}/force-sync", csrf],
    )
    assert status == 403
    assert synced.runtime.ledger.active_run_ids([customer.id]) == {}


def test_a_post_without_the_csrf_token_is_refused_in_the_browser(
    page: Page, synced: Synced
) -> None:
    _log_in(page, TOKEN)
    customer = synced.customers[0]
    page.goto(f"/customers/{customer.id}")
    page.evaluate("document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())")
    page.click("#action-force-sync")
    expect(page.locator("body")).to_contain_text("missing or wrong CSRF token")
    assert synced.runtime.ledger.active_run_ids([customer.id]) == {}


def test_no_page_works_without_logging_in_in_the_browser(page: Page, synced: Synced) -> None:
    for path in ("/", "/customers", f"/customers/{synced.customers[0].id}", "/runs", "/tasks"):
        page.goto(path)
        assert "/login" in page.url and page.locator("h1").inner_text() == "Log in"
    assert shutil.which("chromium") is not None or Path(CHROMIUM).exists()
