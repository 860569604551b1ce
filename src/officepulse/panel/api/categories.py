"""/api/v1/categories: the category rules, read, replaced as a whole, or reset to the
defaults (each change re-categorises every stored span)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from officepulse.core.categories import MAX_RULES, CategoryError, Rule
from officepulse.panel.api.context import ApiContext
from officepulse.panel.api.params import ApiError
from officepulse.panel.api.responses import bad_request, json_response
from officepulse.security.access import VIEWER


class CategoriesIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The whole ordered rule list; the first rule that matches an activity wins."""

    rules: Annotated[list[Rule], msgspec.Meta(extra_json_schema={"maxItems": MAX_RULES})]


class CategoriesOut(msgspec.Struct, kw_only=True):
    rules: list[Rule]


class CategoriesSaved(msgspec.Struct, kw_only=True):
    rules: list[Rule]
    changed: int  # stored spans whose category changed


_categories_decoder = msgspec.json.Decoder(CategoriesIn)


def parse_rules(body: bytes) -> list[Rule]:
    """A PUT body; the error names the path of what was wrong ("$.rules[2].fields[0]")."""
    if not body.strip():
        raise ApiError('the body is empty; send {"rules": [...]}')
    try:
        return _categories_decoder.decode(body).rules
    except msgspec.DecodeError as exc:
        raise ApiError(f"bad rules: {exc}") from None


async def get_categories(api: ApiContext, request: web.Request) -> web.Response:
    return json_response(CategoriesOut(rules=await api.rules.current()))


async def set_categories(api: ApiContext, request: web.Request) -> web.Response:
    try:
        rules = parse_rules(await request.read())
        changed = await api.rules.replace(request[VIEWER].person, rules)
    except (ApiError, CategoryError) as exc:
        return bad_request(str(exc))
    return await _saved(api, changed)


async def reset_categories(api: ApiContext, request: web.Request) -> web.Response:
    return await _saved(api, await api.rules.reset(request[VIEWER].person))


async def _saved(api: ApiContext, changed: int) -> web.Response:
    return json_response(CategoriesSaved(rules=await api.rules.current(), changed=changed))
