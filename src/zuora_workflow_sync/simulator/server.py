"""Runs the simulator on a host and port: in a background thread with its own event loop (tests,
benchmarks) or in the foreground until SIGINT/SIGTERM (the CLI).
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import TracebackType

from aiohttp import web

from zuora_workflow_sync.simulator.app import build_app
from zuora_workflow_sync.simulator.config import SimulatorConfig
from zuora_workflow_sync.simulator.state import SimulatorState
from zuora_workflow_sync.simulator.tenants import Tenant

_START_TIMEOUT_SECONDS = 30.0


class SimulatorServer:
    """A running simulator; `port=0` picks a free port, read it back from `base_url`."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.state = SimulatorState(self.config)
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the simulator is not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self._url_host()}:{self.port}"

    def _url_host(self) -> str:
        host = self.config.host
        return f"[{host}]" if ":" in host else host

    def tenants(self) -> list[Tenant]:
        """The current tenants; read before serving or between admin calls (not thread-safe)."""
        return list(self.state.universe.tenants.values())

    async def _start_site(self) -> None:
        runner = web.AppRunner(
            build_app(self.state),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=self.config.shutdown_timeout_seconds,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port, reuse_address=True)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self.state.base_url = self.base_url

    def start(self) -> None:
        """Serve from a daemon thread; returns once the port is bound (or raises why not)."""
        if self._thread is not None:
            raise RuntimeError("the simulator is already started")
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._thread_main, args=(ready, failure), name="zuora-simulator", daemon=True
        )
        self._thread.start()
        if not ready.wait(_START_TIMEOUT_SECONDS):
            raise RuntimeError("the simulator did not start in time")
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]

    def _thread_main(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._start_site())
        except BaseException as exc:  # handed to start() in the caller's thread
            failure.append(exc)
            ready.set()
            _close_loop(loop)
            return
        ready.set()
        loop.run_forever()
        _close_loop(loop)

    def stop(self) -> None:
        """Stop serving and join the thread; requests still running are cut after the timeout."""
        loop, thread, runner = self._loop, self._thread, self._runner
        if loop is None or thread is None:
            return
        if runner is not None:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        self._loop = self._thread = self._runner = None

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def serve_forever(self, on_ready: Callable[[SimulatorServer], None] | None = None) -> None:
        """Serve in the foreground until SIGINT or SIGTERM; `on_ready` runs once bound."""
        asyncio.run(self._serve_until_signal(on_ready))

    async def _serve_until_signal(self, on_ready: Callable[[SimulatorServer], None] | None) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await self._start_site()
        if on_ready is not None:
            on_ready(self)
        try:
            await stop.wait()
        finally:
            assert self._runner is not None
            await self._runner.cleanup()
            self._runner = None


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left (e.g. a drip cut by shutdown) so nothing warns at close."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()
