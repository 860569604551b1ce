"""What no rule categorises (core/uncategorized.py): apps and sites with their time, most
first; the rule a chosen category makes; the categories to choose from."""

from __future__ import annotations

import re

import pytest

from officepulse.core.categories import (
    DEFAULT_RULES,
    PRIVATE,
    UNCATEGORIZED,
    Rule,
    compile_rules,
)
from officepulse.core.uncategorized import (
    Unsorted,
    category_choices,
    domain_of,
    rule_for,
    uncategorized_apps,
    uncategorized_domains,
)

RULES = compile_rules(DEFAULT_RULES)


def test_the_app_alone_and_the_url_alone_decide_by_their_own_rules() -> None:
    rules = compile_rules(
        [
            Rule(category="Learning", pattern="lecture", fields=("title",)),
            Rule(category="Video", pattern="youtube", fields=("url",)),
            Rule(category="Web", pattern="^firefox$", fields=("app",)),
            Rule(category="Anything", pattern="fox|tube"),  # app, title and url
        ]
    )
    assert rules.categorize("firefox", "a lecture", "https://youtube.com/") == "Learning"
    assert rules.categorize_app("firefox") == "Web"  # the title and URL rules play no part
    assert rules.categorize_app("icefox") == "Anything"  # a rule on every field looks at apps
    assert rules.categorize_app("code") == UNCATEGORIZED
    assert rules.categorize_app("private") == PRIVATE
    assert rules.categorize_url("https://youtube.com/") == "Video"
    assert rules.categorize_url("https://example.com/") == UNCATEGORIZED


def test_apps_in_no_category_most_first_and_not_those_a_rule_now_takes() -> None:
    rows = [
        ("xeyes", UNCATEGORIZED, 5),
        ("firefox", UNCATEGORIZED, 30),
        ("firefox", "Entertainment > Video", 100),
        ("obscure", UNCATEGORIZED, 30),
        ("Uncategorized", UNCATEGORIZED, 50),  # someone shown as a category only
        ("Code", UNCATEGORIZED, 9),  # a rule takes Code by its name now
        (None, UNCATEGORIZED, 70),
        ("idle-only", UNCATEGORIZED, 0),
    ]
    assert uncategorized_apps(rows, RULES) == [
        Unsorted("app", "firefox", 30),
        Unsorted("app", "obscure", 30),
        Unsorted("app", "xeyes", 5),
    ]


def test_sites_in_no_category_by_domain() -> None:
    urls = [
        ("https://www.example.com/a", 10),
        ("http://EXAMPLE.com:8080/b?x", 5),
        ("https://docs.example.com/", 1),
        ("https://www.youtube.com/watch", 50),  # a rule takes it by its URL now
        ("file:///home/me/notes.html", 9),
        ("about:blank", 9),
        ("https://[::1/", 3),  # malformed
    ]
    assert uncategorized_domains(urls, RULES) == [
        Unsorted("domain", "example.com", 15),
        Unsorted("domain", "docs.example.com", 1),
    ]
    assert domain_of("https://www.example.com/") == "example.com"
    assert domain_of("https://www./") is None


@pytest.mark.parametrize(
    ("url", "matches"),
    [
        ("https://example.com/", True),
        ("https://www.example.com/x", True),
        ("http://docs.example.com:8080/x", True),
        ("https://example.com", True),
        ("https://example.com.evil.test/", False),
        ("https://notexample.com/", False),
        ("https://evil.test/?u=https://example.com/", False),
    ],
)
def test_a_sites_rule_takes_its_urls_and_its_sub_domains(url: str, matches: bool) -> None:
    rules = compile_rules([rule_for("domain", "example.com", "Work")])
    assert (rules.categorize("firefox", "t", url) == "Work") is matches


def test_an_apps_rule_takes_that_app_exactly() -> None:
    rule = rule_for("app", "C++ Builder (x86)", "Work")
    rules = compile_rules([rule])
    assert rule.fields == ("app",)
    assert rules.categorize_app("C++ Builder (x86)") == "Work"
    assert rules.categorize_app("c++ builder (x86)") == UNCATEGORIZED
    assert rules.categorize_app("My C++ Builder (x86)") == UNCATEGORIZED
    assert re.escape("C++") in rule.pattern


def test_the_categories_to_choose_from() -> None:
    choices = category_choices([Rule(category="Home > Garden", pattern="x")])
    assert "Home" in choices
    assert "Home > Garden" in choices
    assert "Work > Programming" in choices  # the defaults' own, even when not in the list
    assert choices == sorted(choices, key=str.casefold)
