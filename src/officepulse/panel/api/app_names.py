"""/api/v1/app-names: what each app is shown as; an admin sets a name of their own
("XTerm" -> "Terminal") or gives the app back the name its desktop reports."""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from officepulse.panel.api.context import ApiContext
from officepulse.panel.api.params import ApiError
from officepulse.panel.api.responses import bad_request, json_response
from officepulse.panel.app_names import icon_path
from officepulse.security.access import VIEWER
from officepulse.store.app_names import AppNameRow

NAME_MAX = 256


class AppNameOut(msgspec.Struct, kw_only=True):
    app: str  # the raw app, as totals are keyed
    name: str  # what the dashboard shows: the override, else the reported name, else app
    reported: str | None  # what an agent's desktop calls it
    override: str | None  # what an admin set
    icon: str | None  # where its icon is (a PNG an agent sent), None without one


class AppNamesOut(msgspec.Struct, kw_only=True):
    apps: list[AppNameOut]


NOT_BLANK = r"[^\s\u001c-\u001f\u0085\ufeff]"


class AppNameIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The name to show ``app`` by everywhere; null: the name its desktop reports again."""

    # Something besides blanks (the document says so: blanks are trimmed, and an app of
    # blanks alone names none). Blanks spelled out: Python's \s (what strip() trims) also
    # takes U+001C-U+001F and U+0085, a JSON Schema reader's (ECMA-262) takes U+FEFF;
    # the class excludes all of them so that both read the same rule.
    app: Annotated[str, msgspec.Meta(min_length=1, max_length=NAME_MAX, pattern=NOT_BLANK)]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=NAME_MAX)] | None


_decoder = msgspec.json.Decoder(AppNameIn)


def app_name_out(row: AppNameRow) -> AppNameOut:
    icon = icon_path(row.app) if row.has_icon else None
    return AppNameOut(
        app=row.app, name=row.name, reported=row.reported, override=row.override, icon=icon
    )


def check_name(app: str, name: str | None) -> tuple[str, str | None]:
    """The app and its new name, blanks trimmed; an empty name is no name (None)."""
    app = app.strip()
    if not app:
        raise ApiError("app: empty; name the app as its totals do (e.g. 'XTerm')")
    if len(app) > NAME_MAX:
        raise ApiError(f"app: longer than {NAME_MAX} characters")
    name = (name or "").strip() or None
    if name is not None and len(name) > NAME_MAX:
        raise ApiError(f"name: longer than {NAME_MAX} characters")
    return app, name


def parse_app_name(body: bytes) -> AppNameIn:
    if not body.strip():
        raise ApiError('the body is empty; send {"app": "XTerm", "name": "Terminal"}')
    try:
        return _decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise ApiError(f"bad app name: {exc}") from None


async def get_app_names(api: ApiContext, request: web.Request) -> web.Response:
    names = await api.app_names.fresh()
    return json_response(AppNamesOut(apps=[app_name_out(r) for r in names.rows]))


async def set_app_name(api: ApiContext, request: web.Request) -> web.Response:
    try:
        wanted = parse_app_name(await request.read())
        app, name = check_name(wanted.app, wanted.name)
    except ApiError as exc:
        return bad_request(str(exc))
    row = await api.app_names.rename(request[VIEWER].person, app, name)
    return json_response(app_name_out(row))
