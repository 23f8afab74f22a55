"""The operator's actions, each the same code path as its CLI command: Sync now and Force sync
(`sync-workflows ID [--force]`: `sync.dispatch_now`), Reset circuit (`customers reset`), Pause /
Resume (`customers set-status`: `sync.customer_actions`), Retry (`retry RUN_ID`: `sync.retry`).

Every POST carries the session's CSRF token and needs the role that may act; a refused action
is a 403, a failed one a flashed one-line message. Each answers with a redirect (303).
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from zuora_workflow_sync.catalog.references import WIDE_ID_MAX
from zuora_workflow_sync.domain.models import CustomerStatus
from zuora_workflow_sync.errors import WorkflowSyncError
from zuora_workflow_sync.monitoring.logs import clean
from zuora_workflow_sync.runtime import Runtime, operator_identity
from zuora_workflow_sync.sync import customer_actions
from zuora_workflow_sync.sync.dispatch import DispatchOptions
from zuora_workflow_sync.sync.dispatch_now import dispatch_now
from zuora_workflow_sync.sync.retry import retry_run
from zuora_workflow_sync.web.context import flash, now, path_id, role, web
from zuora_workflow_sync.web.security import CSRF_FIELD, Role, csrf_valid


async def refused(request: Request) -> Response | None:
    """The 403 for a POST without the session's CSRF token or from a viewer; else None."""
    form = await request.form()
    if not csrf_valid(request, form.get(CSRF_FIELD)):
        return PlainTextResponse("missing or wrong CSRF token", status_code=403)
    if role(request) is not Role.ACT:
        return PlainTextResponse("this login may view, not act", status_code=403)
    return None


async def _act(
    request: Request, back: str, action: Callable[[Runtime, list[str]], None]
) -> Response:
    answer = await refused(request)
    if answer is not None:
        return answer
    messages: list[str] = []
    try:
        await run_in_threadpool(action, web(request).runtime, messages)
    except WorkflowSyncError as exc:
        messages.append(f"Failed: {exc}")
    for message in messages:
        flash(request, clean(message))
    return RedirectResponse(back, status_code=303)


def _who(request: Request) -> str:
    return f"dashboard:{role(request)}:{operator_identity()}"


async def sync_now(request: Request) -> Response:
    customer_id = path_id(request, "id")
    force = request.url.path.endswith("/force-sync")
    who = _who(request)

    def action(runtime: Runtime, say: list[str]) -> None:
        options = DispatchOptions(
            customer_id=customer_id,
            force=force,
            queue=runtime.settings.default_queue,
            fallback=False,
            dispatched_by=who,
        )
        dispatch_now(runtime, options, say.append)

    return await _act(request, f"/customers/{customer_id}", action)


async def reset_circuit(request: Request) -> Response:
    customer_id = path_id(request, "id")

    def action(runtime: Runtime, say: list[str]) -> None:
        customer, previous = customer_actions.reset_circuit(runtime, customer_id)
        say.append(f"Circuit of customer {customer.id} reset (it was {previous.describe(now())})")

    return await _act(request, f"/customers/{customer_id}", action)


async def set_status(request: Request) -> Response:
    customer_id = path_id(request, "id")
    status = CustomerStatus.PAUSED if request.url.path.endswith("/pause") else CustomerStatus.ACTIVE

    def action(runtime: Runtime, say: list[str]) -> None:
        customer_actions.set_status(runtime, customer_id, status)
        say.append(f"Customer {customer_id} is now {status.value}")

    return await _act(request, f"/customers/{customer_id}", action)


async def retry(request: Request) -> Response:
    run_id = path_id(request, "id", WIDE_ID_MAX)
    who = _who(request)
    new_run: list[int] = []

    def action(runtime: Runtime, say: list[str]) -> None:
        new_run.append(retry_run(runtime, run_id, say=say.append, dispatched_by=who))

    answer = await _act(request, f"/runs/{run_id}", action)
    if new_run and answer.status_code == 303:
        return RedirectResponse(f"/runs/{new_run[0]}", status_code=303)
    return answer
