"""The agent's own pages, settings and about, in the person's browser, on this computer only.

Why a page and not a window: the browser is there on every desktop, the page needs no
toolkit in the agent (the tray's GTK stays the only one, and only with ``--tray``), and the
same page serves ``officepulse agent settings`` on a computer with no tray at all.

Who may use it:

- It listens on 127.0.0.1 only (``serve`` refuses any other address), and answers only
  requests from a loopback address naming it by a loopback Host (``127.0.0.1:PORT``,
  ``localhost:PORT``): a web page that rebinds its own name to 127.0.0.1 is refused.
- ``Guard.link`` makes a one-time link, ``/?token=…``. The token opens one session (a
  cookie only that browser holds: HttpOnly, SameSite=Strict) and is spent; a wrong, used
  or expired token, or no session, is answered 403.
- A POST must also come from this page's own origin (the ``Origin`` header).

The settings are written to the same ``agent.toml`` the agent reads (config.py), with
tomlkit, keeping the person's comments (settings_form.py); the preview is the probe's
answer (probe.py) for the lists as they are on the page, before they are saved.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import platform
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import msgspec
from aiohttp import web

from officepulse import __version__
from officepulse.agent.config import AgentConfig, ConfigError, ConfigFile, parse_config
from officepulse.agent.settings_form import AGENT_FIELDS, Form, FormErrors, apply, form_of
from officepulse.settings import AgentSettings, is_loopback

__all__ = ["Guard", "PageContext", "PageServer", "context_for", "serve", "write_file"]

log = logging.getLogger(__name__)

COOKIE = "officepulse_agent_page"
TOKEN_LIFETIME = 600.0  # seconds a link may wait to be opened
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Guard:
    """One-time tokens and the sessions they opened. Pure: time is a parameter."""

    lifetime: float = TOKEN_LIFETIME
    tokens: dict[str, float] = field(default_factory=dict)  # token -> when it expires
    sessions: set[str] = field(default_factory=set)

    def new_token(self, now: float) -> str:
        self.tokens = {t: end for t, end in self.tokens.items() if end > now}
        token = secrets.token_urlsafe(32)
        self.tokens[token] = now + self.lifetime
        return token

    def spend(self, token: str, now: float) -> str | None:
        """A new session for a valid ``token``, which is spent; None for any other."""
        expires = self.tokens.pop(token, None)
        if expires is None or expires <= now:
            return None
        session = secrets.token_urlsafe(32)
        self.sessions.add(session)
        return session

    def knows(self, session: str | None) -> bool:
        return session is not None and any(
            secrets.compare_digest(session, s) for s in self.sessions
        )


@dataclass
class PageContext:
    """What the pages read and do. ``settings`` gives the settings in effect now (read
    again for every page); ``overridden(key)`` says where a flag, the environment or .env
    sets a key (then it wins over the file), or None; ``on_saved`` is called once the file
    is written (the tray's agent starts again with it); ``status`` is the agent's state in
    words, for the about page (None: no agent runs in this process)."""

    settings: Callable[[], AgentSettings]
    overridden: Callable[[str], str | None]
    config_path: Path
    on_saved: Callable[[], None] | None = None
    status: Callable[[], str] | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)


def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("officepulse.agent", "page"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def _loopback_host(host: str, port: int) -> bool:
    name, _, given = host.rpartition(":")
    if not name or given != str(port):
        return False
    return is_loopback(name.strip("[]"))


class PageServer:
    """The pages, their guard and their site; ``link(path)`` is what the tray opens."""

    def __init__(self, context: PageContext, clock: Callable[[], float] = time.time) -> None:
        self.context = context
        self.clock = clock
        self.guard = Guard()
        self.port = 0
        self.saved = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._jinja = _templates()

    # -- serving --------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if not is_loopback(host):
            raise ValueError(f"the agent's pages listen on this computer only, not on {host}")
        app = web.Application(middlewares=[self._guard_middleware])
        app.add_routes(
            [
                web.get("/", self._settings),
                web.get("/about", self._about),
                web.post("/preview", self._preview),
                web.post("/save", self._save),
                web.get("/page.js", self._asset),
                web.get("/page.css", self._asset),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def link(self, path: str = "/") -> str:
        """A one-time link to ``path`` ("/" settings, "/about")."""
        return f"{self.origin}{path}?token={self.guard.new_token(self.clock())}"

    # -- the guard ------------------------------------------------------------------

    @web.middleware
    async def _guard_middleware(
        self, request: web.Request, handler: _Handler
    ) -> web.StreamResponse:
        response = await self._guarded(request, handler)
        response.headers.update(
            {
                "Cache-Control": "no-store",
                "Content-Security-Policy": "default-src 'none'; script-src 'self'; "
                "style-src 'self'; connect-src 'self'; form-action 'self'; "
                "frame-ancestors 'none'; base-uri 'none'",
                "X-Frame-Options": "DENY",
                "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff",
            }
        )
        return response

    async def _guarded(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        refusal = self._refusal(request)
        if refusal is not None:
            return self._refused(refusal)
        token = request.query.get("token")
        if token is not None:
            session = self.guard.spend(token, self.clock())
            if session is None:
                return self._refused("this link was used already, has expired or is wrong")
            # The token leaves the address bar (and the history) at once.
            response = web.Response(status=303, headers={"Location": request.path})
            response.set_cookie(COOKIE, session, httponly=True, samesite="Strict", path="/")
            return response
        # The stylesheet is the refusal page's too.
        if request.path != "/page.css" and not self.guard.knows(request.cookies.get(COOKIE)):
            return self._refused(
                "open this page from the officepulse tray, or with `officepulse agent settings`"
            )
        return await handler(request)

    def _refusal(self, request: web.Request) -> str | None:
        remote = request.remote or ""
        try:
            local = ipaddress.ip_address(remote.split("%")[0]).is_loopback
        except ValueError:
            local = False
        if not local:
            return f"only this computer may open the agent's pages (not {remote or 'unknown'})"
        if not _loopback_host(request.host, self.port):
            return f"the agent's pages answer to 127.0.0.1:{self.port} only, not {request.host}"
        if request.method == "POST":
            origin = request.headers.get("Origin")
            allowed = {self.origin, f"http://localhost:{self.port}"}
            if origin is None or origin not in allowed:
                return f"a change must come from this page itself (Origin {origin or 'missing'})"
        return None

    def _refused(self, why: str) -> web.Response:
        html = self._jinja.get_template("refused.html").render(why=why, version=__version__)
        return web.Response(status=403, text=html, content_type="text/html")

    # -- pages ----------------------------------------------------------------------

    def _file(self) -> tuple[str, ConfigFile | None, str | None]:
        """The config file's text, what it says, and why it cannot be used (if so)."""
        path = self.context.config_path
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return "", ConfigFile(), None
        except (OSError, UnicodeDecodeError) as exc:
            return "", None, f"cannot read {path}: {exc}"
        try:
            return text, parse_config(text, path).file, None
        except ConfigError as exc:
            return text, None, str(exc)

    def _shown(self, file: ConfigFile) -> Form:
        effective = msgspec.structs.asdict(self.context.settings())
        return form_of(file, effective)

    async def _settings(self, request: web.Request) -> web.Response:
        _, file, problem = self._file()
        form = self._shown(file) if file is not None else Form()
        return self._page(form, problem=problem)

    def _page(
        self,
        form: Form,
        *,
        problem: str | None = None,
        errors: Mapping[str, str] | None = None,
        saved: str | None = None,
    ) -> web.Response:
        overridden = {key: self.context.overridden(key) for key in AGENT_FIELDS}
        html = self._jinja.get_template("settings.html").render(
            form=form,
            path=self.context.config_path,
            problem=problem,
            errors=errors or {},
            saved=saved,
            overridden={k: v for k, v in overridden.items() if v is not None},
            restarts=self.context.on_saved is not None,
            version=__version__,
        )
        return web.Response(text=html, content_type="text/html")

    async def _about(self, request: web.Request) -> web.Response:
        settings = self.context.settings()
        from officepulse.agent.identity import agent_id

        html = self._jinja.get_template("about.html").render(
            version=__version__,
            python=platform.python_version(),
            platform=f"{platform.system()} {platform.release()}",
            agent_id=settings.agent_id or agent_id(settings.state_dir),
            name=settings.name,
            server_url=settings.server_url,
            state_dir=settings.state_dir,
            config_path=self.context.config_path,
            status=self.context.status() if self.context.status is not None else None,
            executable=sys.executable,
        )
        return web.Response(text=html, content_type="text/html")

    async def _asset(self, request: web.Request) -> web.Response:
        name = request.path.lstrip("/")
        loader = self._jinja.loader
        assert loader is not None
        text, _, _ = loader.get_source(self._jinja, name)
        kind = "text/javascript" if name.endswith(".js") else "text/css"
        return web.Response(text=text, content_type=kind)

    async def _form(self, request: web.Request) -> Form:
        data = await request.post()
        return Form.of({k: v for k, v in data.items() if isinstance(v, str)})

    def _draft(self, form: Form) -> tuple[AgentConfig, float]:
        """What the agent would read if the page were saved now (FormErrors if it cannot)."""
        text, file, problem = self._file()
        if file is None:
            raise FormErrors({"file": problem or "the file cannot be used"})
        _, config = apply(text, form, self._shown(file), self.context.config_path)
        settings = self.context.settings()
        idle = settings.idle_threshold
        if form.idle_threshold.strip() and self.context.overridden("idle_threshold") is None:
            idle = float(form.idle_threshold)
        return config, idle

    async def _preview(self, request: web.Request) -> web.Response:
        form = await self._form(request)
        try:
            config, idle = self._draft(form)
        except FormErrors as exc:
            return web.json_response({"errors": exc.errors})
        settings = self.context.settings()
        from officepulse.agent.probe import collect, render, would_send

        # The probe reads the desktop (X, D-Bus): not on the agent's event loop.
        probe = await asyncio.to_thread(
            collect,
            source=settings.source,
            idle_threshold=idle,
            agent_config=config,
            environ=self.context.environ,
            state_dir=settings.state_dir,
        )
        return web.json_response(
            {"errors": {}, "would_send": would_send(probe), "probe": render(probe)}
        )

    async def _save(self, request: web.Request) -> web.Response:
        form = await self._form(request)
        wants_json = "application/json" in request.headers.get("Accept", "")
        text, file, problem = self._file()
        try:
            if file is None:
                raise FormErrors({"file": problem or "the file cannot be used"})
            new_text, _ = apply(text, form, self._shown(file), self.context.config_path)
        except FormErrors as exc:
            if wants_json:
                return web.json_response({"errors": exc.errors}, status=400)
            return self._page(form, errors=exc.errors)
        try:
            write_file(self.context.config_path, new_text)
        except OSError as exc:
            errors = {"file": f"cannot write {self.context.config_path}: {exc.strerror or exc}"}
            if wants_json:
                return web.json_response({"errors": errors}, status=500)
            return self._page(form, errors=errors)
        log.info("settings saved to %s", self.context.config_path)
        self.saved.set()
        if self.context.on_saved is not None:
            self.context.on_saved()
        said = f"Saved to {self.context.config_path}."
        if wants_json:
            return web.json_response({"errors": {}, "saved": said})
        _, written, _ = self._file()
        return self._page(self._shown(written or ConfigFile()), saved=said)


def write_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all. A new file is readable by its owner
    only (it may hold an enrollment token); an existing one keeps its mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o600
    scratch = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(scratch, mode)
        os.replace(scratch, path)
    except BaseException:
        with contextlib.suppress(OSError):
            scratch.unlink()
        raise


def context_for(
    flags: Mapping[str, Any],
    env_file: str | None,
    on_saved: Callable[[], None] | None = None,
    status: Callable[[], str] | None = None,
) -> PageContext:
    """The pages' context for an agent started with ``flags`` and ``env_file``."""
    from officepulse.agent.config import config_path, load_agent_settings
    from officepulse.settings import origin

    def settings() -> AgentSettings:
        return load_agent_settings(flags, env_file, bad_file_ok=True)

    def overridden(key: str) -> str | None:
        return origin(key, flags, env_file=env_file)

    path, _ = config_path(settings().agent_config)
    return PageContext(settings, overridden, path, on_saved=on_saved, status=status)


async def serve(context: PageContext, opened: Callable[[str], None]) -> None:
    """``officepulse agent settings``: serve the pages until the settings are saved (or
    the command is stopped); ``opened`` gets the one-time link."""
    server = PageServer(context)
    await server.start()
    try:
        opened(server.link("/"))
        await server.saved.wait()
        await asyncio.sleep(0.5)  # let the page have its answer
    finally:
        await server.close()
