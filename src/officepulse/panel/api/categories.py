"""/api/v1/categories: the category rules, read, replaced as a whole, or reset to the
defaults; each change answers at once (202) with the job that re-categorises every
stored span in the background (``/api/v1/categories/jobs/{id}``: how far it has got);
and what no rule categorises (``/api/v1/categories/uncategorized``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from aiohttp import web

from officepulse.core.categories import MAX_RULES, CategoryError, Rule
from officepulse.core.uncategorized import Unsorted
from officepulse.panel.api import params
from officepulse.panel.api.context import ApiContext
from officepulse.panel.api.params import ApiError
from officepulse.panel.api.responses import bad_request, instant, json_response
from officepulse.security.access import VIEWER
from officepulse.store.categorising import CategoryJob, JobState


class CategoriesIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The whole ordered rule list; the first rule that matches an activity wins."""

    rules: Annotated[list[Rule], msgspec.Meta(extra_json_schema={"maxItems": MAX_RULES})]


class JobOut(msgspec.Struct, kw_only=True):
    """Re-categorising every stored span by the rules of one version (``id``), in the
    background: ``running``, ``done``, or ``superseded`` by a newer change (whose own job
    goes through every span). While it runs, each span counts once, in its new category
    if the job has reached it (or it was written since the change), else in its old."""

    id: int
    state: JobState
    total: int | None  # spans stored when it began; null until counted
    done: int  # spans gone through
    changed: int  # of those, spans whose category changed
    percent: int
    started: datetime
    finished: datetime | None


class CategoriesOut(msgspec.Struct, kw_only=True):
    rules: list[Rule]
    job: JobOut | None  # the latest change's job (null: the rules never changed)


class CategoriesSaved(msgspec.Struct, kw_only=True):
    rules: list[Rule]
    job: JobOut  # re-categorising history by these rules, under way


class UncategorizedAppOut(msgspec.Struct, kw_only=True):
    app: str
    app_name: str  # the app as the dashboard shows it (/api/v1/app-names)
    seconds: float


class UncategorizedSiteOut(msgspec.Struct, kw_only=True):
    domain: str
    seconds: float


class UncategorizedOut(msgspec.Struct, kw_only=True):
    start: datetime
    end: datetime
    apps: list[UncategorizedAppOut]
    domains: list[UncategorizedSiteOut]


def job_out(job: CategoryJob) -> JobOut:
    return JobOut(
        id=job.id,
        state=job.state,
        total=job.total,
        done=job.done,
        changed=job.changed,
        percent=job.percent,
        started=instant(job.started_ms),
        finished=None if job.finished_ms is None else instant(job.finished_ms),
    )


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
    job = await api.rules.job()
    return json_response(
        CategoriesOut(rules=await api.rules.current(), job=None if job is None else job_out(job))
    )


async def get_job(api: ApiContext, request: web.Request) -> web.Response:
    raw = request.match_info["job_id"]
    job = await api.rules.job(int(raw)) if raw.isdigit() and len(raw) < 19 else None
    if job is None:
        return bad_request(f"no re-categorising job has the id {raw!r}", 404)
    return json_response(job_out(job))


async def set_categories(api: ApiContext, request: web.Request) -> web.Response:
    try:
        rules = parse_rules(await request.read())
        job = await api.rules.replace(request[VIEWER].person, rules)
    except (ApiError, CategoryError) as exc:
        return bad_request(str(exc))
    return await _accepted(api, job)


async def reset_categories(api: ApiContext, request: web.Request) -> web.Response:
    return await _accepted(api, await api.rules.reset(request[VIEWER].person))


async def _accepted(api: ApiContext, job: CategoryJob) -> web.Response:
    """202: the rules are in force; history is re-categorised in the background."""
    body = CategoriesSaved(rules=await api.rules.current(), job=job_out(job))
    response = json_response(body, status=202)
    response.headers["Location"] = f"/api/v1/categories/jobs/{job.id}"
    return response


async def uncategorized(api: ApiContext, request: web.Request) -> web.Response:
    q = request.query
    try:
        start, end = params.usage_range(q.get("start"), q.get("end"))
    except ApiError as exc:
        return bad_request(str(exc))
    start_ms, end_ms = params.range_ms(start, end)
    apps, domains = await api.uncategorized.listed(await api.reads(request), start_ms, end_ms)
    name = (await api.app_names.fresh()).name
    return json_response(
        UncategorizedOut(
            start=start,
            end=end,
            apps=[
                UncategorizedAppOut(app=u.value, app_name=name(u.value), seconds=_s(u))
                for u in apps
            ],
            domains=[UncategorizedSiteOut(domain=u.value, seconds=_s(u)) for u in domains],
        )
    )


def _s(u: Unsorted) -> float:
    return u.active_ms / 1000
