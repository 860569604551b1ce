"""What no rule puts in a category, and the rule that puts it in one: the Categories
page's "Uncategorized" list of apps and web sites with their time (most first), and for a
category chosen beside one of them, the rule that makes it so. Pure.

A chosen category becomes a rule at the **end** of the list: rules above it still win,
so nothing categorised before changes, and everything the row stood for (an app's or a
site's time in no category) goes to the new category. An app's rule matches that raw app
exactly; a site's rule matches its URLs, on the site and its sub-domains.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from officepulse.core.categories import DEFAULT_RULES, UNCATEGORIZED, Rule, RuleSet, ancestors

Kind = Literal["app", "domain"]
KINDS: tuple[Kind, ...] = ("app", "domain")


@dataclass(frozen=True, slots=True)
class Unsorted:
    """An app (raw, as recorded) or a web site (its domain) with active time in no
    category."""

    kind: Kind
    value: str
    active_ms: int


def domain_of(url: str) -> str | None:
    """The site of an http(s) URL as people name it ("example.com" for
    "https://www.Example.com/a"); None for anything else."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # a malformed address (an unclosed "[" of IPv6)
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    return host.removeprefix("www.") or None


def _most_first(times: dict[str, int], kind: Kind) -> list[Unsorted]:
    ranked = sorted(times.items(), key=lambda item: (-item[1], item[0]))
    return [Unsorted(kind, value, ms) for value, ms in ranked if ms > 0]


def uncategorized_apps(
    rows: Iterable[tuple[str | None, str | None, int]], rules: RuleSet
) -> list[Unsorted]:
    """Apps with active time in no category, from (app, category, active ms) rows of usage
    grouped by app and category as a viewer sees it (security/visibility.py), most
    first. Left out: time shown as a category only (its "app" is the category itself,
    not an app), and apps that a rule in ``rules`` now takes by their name (made since,
    its history being re-categorised in the background)."""
    times: dict[str, int] = {}
    for app, category, active_ms in rows:
        if category != UNCATEGORIZED or app is None or app == category:
            continue
        times[app] = times.get(app, 0) + active_ms
    return _most_first(
        {app: ms for app, ms in times.items() if rules.categorize_app(app) == UNCATEGORIZED},
        "app",
    )


def uncategorized_domains(urls: Iterable[tuple[str, int]], rules: RuleSet) -> list[Unsorted]:
    """Web sites with active time in no category, from (URL, active ms) pairs of spans
    in no category, most first. URLs that a rule in ``rules`` now takes by the URL are
    left out, as apps are in ``uncategorized_apps``."""
    times: dict[str, int] = {}
    for url, ms in urls:
        domain = domain_of(url)
        if domain is not None and rules.categorize_url(url) == UNCATEGORIZED:
            times[domain] = times.get(domain, 0) + ms
    return _most_first(times, "domain")


def rule_for(kind: Kind, value: str, category: str) -> Rule:
    """The rule that puts an app (matched exactly, case and all) or a web site (its URLs,
    sub-domains included) in ``category``."""
    if kind == "app":
        return Rule(
            category=category, pattern=f"^{re.escape(value)}$", fields=("app",), ignore_case=False
        )
    return Rule(
        category=category,
        pattern=rf"^https?://([^/?#@]+\.)?{re.escape(value)}([:/?#]|$)",
        fields=("url",),
    )


def category_choices(rules: Sequence[Rule]) -> list[str]:
    """The categories to choose from: every one the rules name (and their parents), and
    the defaults' own, in alphabetical order."""
    named = {path for rule in (*rules, *DEFAULT_RULES) for path in ancestors(rule.category)}
    return sorted(named, key=str.casefold)
