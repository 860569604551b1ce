"""The categories page's editor as pure functions: the rule list a submitted form holds
(a draft: checked only when saved), and the edits its buttons ask for."""

from __future__ import annotations

from collections.abc import Mapping

from officepulse.core.categories import FIELDS, MAX_RULES, Field, Rule
from officepulse.errors import FormError


def rules_from_form(form: Mapping[str, str]) -> list[Rule]:
    """Rows ``category-i``, ``pattern-i``, a checkbox per field ``app-i`` …, ``case-i``,
    for i below ``count``."""
    try:
        count = int(form.get("count", "0"))
    except ValueError:
        raise FormError(f"'count' is not a number: {form.get('count')!r}") from None
    if not 0 <= count <= MAX_RULES:
        raise FormError(f"'count' must be between 0 and {MAX_RULES}, not {count}")
    rules = []
    for i in range(count):
        fields: tuple[Field, ...] = tuple(f for f in FIELDS if f"{f}-{i}" in form)
        rules.append(
            Rule(
                category=form.get(f"category-{i}", ""),
                pattern=form.get(f"pattern-{i}", ""),
                fields=fields,
                ignore_case=f"case-{i}" in form,
            )
        )
    return rules


def apply_edit(rules: list[Rule], op: str) -> list[Rule]:
    """ "add" (an empty rule at the end), "up-i", "down-i" or "delete-i"."""
    if op == "add":
        return [*rules, Rule(category="", pattern="")]
    verb, _, raw = op.partition("-")
    if verb not in ("up", "down", "delete") or not raw.isdigit() or int(raw) >= len(rules):
        raise FormError(f"unknown edit {op!r}")
    i = int(raw)
    out = list(rules)
    if verb == "delete":
        del out[i]
    elif verb == "up" and i > 0:
        out[i - 1], out[i] = out[i], out[i - 1]
    elif verb == "down" and i + 1 < len(out):
        out[i + 1], out[i] = out[i], out[i + 1]
    return out
