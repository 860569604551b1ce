"""The pure category core (core/categories.py): checking and compiling rules, the first
matching rule wins, private activity, the default rules, and the hierarchy of totals."""

from __future__ import annotations

import itertools

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from officepulse.core.categories import (
    DEFAULT_RULES,
    PAUSED,
    PRIVATE,
    TOP_LEVEL_HUES,
    UNCATEGORIZED,
    CategoryError,
    Rule,
    category_colour,
    category_tree,
    compile_rules,
    normalize_path,
    rules_from_json,
    rules_to_json,
)
from officepulse.core.reports import colour


def test_the_first_matching_rule_wins_whatever_its_depth() -> None:
    rules = compile_rules(
        [
            Rule(category="Work > Learning", pattern=r"lecture", fields=("title",)),
            Rule(category="Entertainment > Video > Long", pattern=r"youtube\.com", fields=("url",)),
            Rule(category="Entertainment", pattern=r"youtube", fields=("url", "title")),
        ]
    )
    url = "https://www.youtube.com/watch?v=1"
    assert rules.categorize("firefox", "MIT lecture 3 - YouTube", url) == "Work > Learning"
    assert rules.categorize("firefox", "cats - YouTube", url) == "Entertainment > Video > Long"
    assert rules.categorize("firefox", "cats - YouTube", None) == "Entertainment"
    assert rules.categorize("firefox", "Inbox", None) == UNCATEGORIZED


def test_a_rule_looks_only_at_its_fields_and_case_is_ignored_unless_asked() -> None:
    rules = compile_rules(
        [
            Rule(category="Code", pattern="^code$", fields=("app",)),
            Rule(category="Exact", pattern="Jira", fields=("title",), ignore_case=False),
        ]
    )
    assert rules.categorize("Code", "x", None) == "Code"
    assert rules.categorize("firefox", "code", None) == UNCATEGORIZED  # not the app
    assert rules.categorize("firefox", "Jira board", None) == "Exact"
    assert rules.categorize("firefox", "jira board", None) == UNCATEGORIZED


def test_private_and_paused_activity_are_their_own_categories_and_never_matched() -> None:
    rules = compile_rules([Rule(category="Everything", pattern=".")])
    assert rules.categorize("private", "", None) == PRIVATE
    assert rules.categorize("paused", "", None) == PAUSED
    assert rules.categorize("anything", "", None) == "Everything"


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (Rule(category="", pattern="x"), r"rule 1: the category is empty"),
        (Rule(category="Work > ", pattern="x"), r"rule 1 \('Work > '\): .*has an empty part"),
        (Rule(category="A", pattern="("), r"rule 1 \('A'\): bad regular expression '\('"),
        (
            Rule(category="A", pattern="a{99999999999}"),
            r"rule 1 \('A'\): bad regular expression .*repetition number is too large",
        ),
        (
            Rule(category="A", pattern="(" * 500 + ")" * 500),
            r"rule 1 \('A'\): bad regular expression .*: it nests too deeply",
        ),
        (Rule(category="A", pattern=""), r"rule 1 \('A'\): the pattern is empty"),
        (Rule(category="A", pattern="x", fields=()), r"rule 1 \('A'\): 'fields' is empty"),
        (
            Rule(category="A", pattern="x", fields=("window",)),  # type: ignore[arg-type]
            r"rule 1 \('A'\): unknown field 'window'",
        ),
        (Rule(category="A", pattern="x", fields=("app", "app")), r"rule 1 .*named twice"),
        (Rule(category="A\x00B", pattern="x"), r"rule 1 .*contains a control character"),
    ],
)
def test_a_bad_rule_is_named_with_its_index_and_what_is_wrong(rule: Rule, message: str) -> None:
    with pytest.raises(CategoryError, match=message):
        compile_rules([Rule(category="Fine", pattern="ok"), rule])


def test_rules_from_json_name_the_bad_field() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\[0\]\.fields\[0\]"):
        rules_from_json('[{"category": "A", "pattern": "x", "fields": ["window"]}]')
    with pytest.raises(msgspec.ValidationError, match="unknown field `colour`"):
        rules_from_json('[{"category": "A", "pattern": "x", "colour": "red"}]')


def test_paths_are_normalised() -> None:
    assert normalize_path(" Work>Programming ") == "Work > Programming"
    (rule,) = compile_rules([Rule(category="Work >Docs", pattern="x")]).rules
    assert rule.category == "Work > Docs"


def test_the_default_rules_compile_round_trip_and_sort_common_activity() -> None:
    rules = compile_rules(DEFAULT_RULES)
    assert rules_from_json(rules_to_json(rules.rules)) == list(DEFAULT_RULES)
    cases = {
        ("Code", "main.py — officepulse", None): "Work > Programming",
        ("jetbrains-pycharm", "x", None): "Work > Programming",
        ("Code", "youtube_dl.py", None): "Work > Programming",  # the app decides first
        ("xterm", "vim", None): "Work > Programming > Terminal",
        ("gnome-terminal-server", "~", None): "Work > Programming > Terminal",
        ("libreoffice-calc", "budget.ods", None): "Work > Docs",
        ("gimp", "x", None): "Work > Design",
        ("thunderbird", "Inbox", None): "Comms > Email",
        ("zoom", "Zoom Meeting", None): "Comms > Meetings",
        ("Slack", "general", None): "Comms > Chat",
        ("discord", "x", None): "Comms > Chat",
        ("vlc", "film.mkv", None): "Entertainment > Video",
        ("Spotify", "Queen", None): "Entertainment > Music",
        ("steam", "Library", None): "Entertainment > Games",
        ("firefox", "x", "https://github.com/a/b"): "Work > Programming",
        ("firefox", "Budget - Google Sheets", None): "Work > Docs",
        ("firefox", "Inbox (3) - Gmail", None): "Comms > Email",
        ("Google-chrome", "Meet - abc-defg-hij", "https://meet.google.com/abc"): "Comms > Meetings",
        ("firefox", "x", "https://app.slack.com/client/T1"): "Comms > Chat",
        ("Google-chrome", "cat video - YouTube", "https://www.youtube.com/watch?v=x"): (
            "Entertainment > Video"
        ),
        ("firefox", "cat video - YouTube — Mozilla Firefox", None): "Entertainment > Video",
        ("firefox", "x", "https://www.netflix.com/watch/1"): "Entertainment > Video",
        ("firefox", "x", "https://open.spotify.com/track/1"): "Entertainment > Music",
        ("firefox", "x", "https://www.reddit.com/r/python/"): "Social Media",
        ("firefox", "Home / X", None): "Social Media",
        ("firefox", "x", "https://news.ycombinator.com/item?id=1"): "News",
        ("firefox", "Welcome", "https://example.org/"): UNCATEGORIZED,
        ("nautilus", "Home", None): UNCATEGORIZED,
        ("private", "", None): PRIVATE,
    }
    got = {k: rules.categorize(*k) for k in cases}
    assert got == cases


def test_the_tree_totals_each_category_with_its_sub_categories() -> None:
    rows = [
        ("Work > Programming", 100, 5),
        ("Work > Docs", 30, 0),
        ("Work", 7, 1),
        ("Work > Programming > Terminal", 20, 0),
        ("Entertainment > Video", 50, 0),
        ("Work > Programming", 1, 0),  # the same path twice (e.g. two agents): added up
    ]
    work, fun = category_tree(rows)
    assert (work.path, work.own_ms, work.own_idle_ms, work.total_ms, work.total_idle_ms) == (
        "Work",
        7,
        1,
        158,
        6,
    )
    programming, docs = work.children
    assert (programming.name, programming.own_ms, programming.total_ms) == ("Programming", 101, 121)
    assert [c.path for c in programming.children] == ["Work > Programming > Terminal"]
    assert (docs.own_ms, docs.total_ms) == (30, 30)
    assert (fun.path, fun.own_ms, fun.total_ms) == ("Entertainment", 0, 50)
    assert fun.children[0].path == "Entertainment > Video"
    assert category_tree([]) == []


paths = st.lists(st.sampled_from(["A", "B", "C"]), min_size=1, max_size=3).map(" > ".join)


@given(st.lists(st.tuples(paths, st.integers(0, 10**6), st.integers(0, 10**6)), max_size=30))
def test_each_total_is_its_own_time_plus_its_childrens_totals(
    rows: list[tuple[str, int, int]],
) -> None:
    roots = category_tree(rows)
    assert sum(r.total_ms for r in roots) == sum(a for _, a, _ in rows)
    assert sum(r.total_idle_ms for r in roots) == sum(i for _, _, i in rows)
    stack = list(roots)
    while stack:
        node = stack.pop()
        assert node.total_ms == node.own_ms + sum(c.total_ms for c in node.children)
        assert node.total_idle_ms == node.own_idle_ms + sum(c.total_idle_ms for c in node.children)
        assert node.own_ms == sum(a for p, a, _ in rows if p == node.path)
        stack += node.children


def test_the_default_top_level_categories_have_colours_far_apart() -> None:
    hues = sorted(TOP_LEVEL_HUES.values())
    assert {*TOP_LEVEL_HUES} == {r.category.split(" > ")[0] for r in DEFAULT_RULES} | {
        UNCATEGORIZED,
        PRIVATE,
        PAUSED,
    }
    gaps = [b - a for a, b in itertools.pairwise(hues)] + [hues[0] + 360 - hues[-1]]
    assert min(gaps) >= 20
    assert category_colour("Work") == f"hsl({TOP_LEVEL_HUES['Work']} 62% 48%)"
    # Others (and sub-categories) are coloured from their path, as apps are.
    assert category_colour("Work > Programming") == colour("Work > Programming")
    assert category_colour("Hobbies") == colour("Hobbies")
