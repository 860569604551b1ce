"""The agent on an event loop of its own thread, for a tray that needs the main thread for
its toolkit (GTK on Linux, AppKit on macOS, Win32).

It runs ``run_agent`` with settings read afresh at each start: ``Controls.restart`` (the
settings page saved) stops the agent and starts it again, ``Controls.quit`` stops it (after
its usual clean stop: the open span closed and sent when the server answers). Settings that
cannot be used (a bad address saved) leave it stopped, saying why in the tray, until they
are saved again. The agent's own pages (settings, about) are served from the same loop, made
on first use.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from officepulse.agent.controls import Controls, Status
from officepulse.settings import AgentSettings, SettingsError

__all__ = ["AgentThread"]

log = logging.getLogger(__name__)

PAGE_TIMEOUT = 30.0  # seconds to wait for the pages to start (aiohttp's first import)


class AgentThread:
    """``settings()`` reads the settings; ``pages()`` makes the pages' server (not
    started), from the ``officepulse.agent.settings_page`` module."""

    def __init__(
        self,
        settings: Callable[[], AgentSettings],
        controls: Controls,
        pages: Callable[[], Any] | None = None,
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.controls = controls
        self.pages = pages
        self.on_exit = on_exit
        self.failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._page_server: Any = None
        self._thread = threading.Thread(target=self._run, name="officepulse-agent", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()

    def join(self, timeout: float | None = None) -> bool:
        """Whether the agent has stopped."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def page_link(self, path: str) -> str:
        """A one-time link to one of the agent's pages; starts their server on first use.
        Called from another thread (the tray's)."""
        if self._loop is None:
            raise RuntimeError("the agent is not running")
        done = asyncio.run_coroutine_threadsafe(self._link(path), self._loop)
        return done.result(PAGE_TIMEOUT)

    async def _link(self, path: str) -> str:
        if self._page_server is None:
            if self.pages is None:
                raise RuntimeError("this agent has no pages")
            server = self.pages()
            await server.start()
            self._page_server = server
            log.info("the agent's pages: %s (each link opens them once)", server.origin)
        return str(self._page_server.link(path))

    def _run(self) -> None:
        try:
            _run_loop(self._main())
        except BaseException as exc:  # said in the log and kept for the caller
            self.failure = exc
            log.exception("the agent stopped on an error")
        finally:
            self._ready.set()  # a start() still waiting returns
            if self.on_exit is not None:
                self.on_exit()

    async def _main(self) -> None:
        from officepulse.agent.main import run_agent

        self._loop = asyncio.get_running_loop()
        self._ready.set()
        wake = asyncio.Event()
        try:
            while not self.controls.quit_requested:
                if self.controls.restart_requested:
                    log.info("starting again with the settings as saved")
                self.controls.restart_requested = False
                try:
                    settings = self.settings()
                    task = asyncio.create_task(run_agent(settings, self.controls))
                    await asyncio.wait({task})
                    if not task.cancelled():
                        task.result()  # a timeline replay that ended, or what stopped it
                        return
                except (SettingsError, SystemExit) as exc:
                    self._stopped(str(exc) or type(exc).__name__)
                    # Stopped until the settings are saved again (restart), or quit.
                    wake.clear()
                    self.controls.attach(self._loop, None, wake.set)
                    await wake.wait()
                    self.controls.detach()
                    continue
                if not (self.controls.restart_requested or self.controls.quit_requested):
                    return
        finally:
            if self._page_server is not None:
                await self._page_server.close()

    def _stopped(self, why: str) -> None:
        log.error("the agent cannot run: %s", why)
        self.controls.publish(Status("offline", f"Not running: {why}"))


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)
