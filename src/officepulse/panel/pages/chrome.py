"""What every page shares: what base.html needs to know about who is looking, and an
HTML answer."""

from __future__ import annotations

from aiohttp import web

from officepulse.security.access import Viewer


def chrome(viewer: Viewer) -> dict[str, object]:
    """What base.html needs to know about who is looking."""
    return {"me": viewer.person, "csrf": viewer.csrf, "open_mode": not viewer.locked}


def html_response(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html")
