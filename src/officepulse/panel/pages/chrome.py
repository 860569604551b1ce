"""What every page shares: what base.html needs to know about who is looking, and an
HTML answer."""

from __future__ import annotations

from aiohttp import web

from officepulse.security.access import Viewer


def chrome(viewer: Viewer) -> dict[str, object]:
    """What base.html needs to know about who is looking. A signed-out visitor of a
    locked server is shown the sign-in only: no links to pages they cannot open."""
    return {
        "me": viewer.person,
        "csrf": viewer.csrf,
        "open_mode": not viewer.locked,
        "signed_out": viewer.locked and viewer.person is None,
    }


def html_response(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html")
