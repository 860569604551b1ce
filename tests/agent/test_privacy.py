"""The privacy core: ``apply_privacy`` and the rules it applies. Pure, so tested
directly, with properties where they fit."""

from __future__ import annotations

import re

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from officepulse.agent.privacy import (
    NO_RULES,
    PrivacyRules,
    RuleError,
    apply_privacy,
    private_activity,
)
from officepulse.protocol.messages import Activity, Media

FULL = Activity(
    app="KeePassXC",
    title="Bank — PIN 4242",
    url="https://bank.example/account/77",
    process="keepassxc",
    pid=4321,
    idle=False,
    program="vim",
    project="secret-project",
    file="/home/a/secret.kdbx",
    media=Media(player="spotify", title="Song", artist="Band"),
)


def rules(**kw: object) -> PrivacyRules:
    return PrivacyRules.build(**kw)  # type: ignore[arg-type]


def test_no_rules_send_everything_unchanged() -> None:
    assert apply_privacy(FULL, NO_RULES) is FULL


@pytest.mark.parametrize(
    "glob", ["KeePassXC", "keepassxc", "KEEPASS*", "*pass*", "keepass?c", "[kK]ee*"]
)
def test_never_capture_private_sends_a_bare_private_span(glob: str) -> None:
    out = apply_privacy(FULL, rules(never_capture=[(glob, "private")]))
    assert out == Activity(app="private", private=True, idle=False)
    assert msgspec.json.encode(out) == b'{"app":"private","private":true}'


def test_never_capture_matches_the_process_name_too() -> None:
    r = rules(never_capture=[("keepassxc", "private")])
    out = apply_privacy(msgspec.structs.replace(FULL, app="Unrelated-Class"), r)
    assert out == private_activity(False)


def test_never_capture_keeps_the_away_flag_only() -> None:
    away = msgspec.structs.replace(FULL, idle=True)
    assert apply_privacy(away, rules(never_capture=[("keepass*", "private")])) == Activity(
        app="private", private=True, idle=True
    )


def test_never_capture_nothing_sends_nothing() -> None:
    assert apply_privacy(FULL, rules(never_capture=[("keepass*", "nothing")])) is None


def test_each_entry_has_its_own_choice_and_the_first_match_wins() -> None:
    r = rules(never_capture=[("keepass*", "nothing"), ("*", "private")])
    assert apply_privacy(FULL, r) is None
    other = Activity(app="Code", title="main.py")
    assert apply_privacy(other, r) == private_activity(False)


def test_globs_match_whole_names_only() -> None:
    r = rules(never_capture=[("pass", "private")])
    assert apply_privacy(FULL, r) == FULL


def test_never_introspect_sends_the_app_name_only() -> None:
    out = apply_privacy(FULL, rules(never_introspect=["keepassxc"]))
    assert out == Activity(app="KeePassXC", process="keepassxc", pid=4321, idle=False)


def test_never_capture_wins_over_never_introspect() -> None:
    r = rules(never_capture=[("keepass*", "private")], never_introspect=["keepass*"])
    assert apply_privacy(FULL, r) == private_activity(False)
    assert not r.introspects("KeePassXC", None)


def test_introspection_is_allowed_only_off_the_lists() -> None:
    r = rules(never_capture=[("vault", "private")], never_introspect=["firefox"])
    assert r.introspects("Code", "code")
    assert not r.introspects("Firefox", "firefox-bin")
    assert not r.introspects("Navigator", "firefox")
    assert not r.introspects("VAULT", None)


def test_redaction_masks_every_text_about_the_window() -> None:
    r = rules(redact=[r"secret[\w-]*", r"\d{4}"])
    out = apply_privacy(
        msgspec.structs.replace(
            FULL,
            media=Media(player="spotify", title="secret song", artist="band 1999"),
        ),
        r,
    )
    assert out == Activity(
        app="KeePassXC",
        title="Bank — PIN …",
        url="https://bank.example/account/77",
        process="keepassxc",
        pid=4321,
        program="vim",
        project="…",
        file="/home/a/….kdbx",
        media=Media(player="spotify", title="… song", artist="band …"),
    )


def test_redaction_uses_the_chosen_mask() -> None:
    r = rules(redact=[r"(?i)pin \d+"], mask="[hidden]")
    out = apply_privacy(FULL, r)
    assert out is not None
    assert out.title == "Bank — [hidden]"


def test_redaction_leaves_app_and_process_names_alone() -> None:
    out = apply_privacy(FULL, rules(redact=["keepass"]))
    assert out is not None
    assert (out.app, out.process) == ("KeePassXC", "keepassxc")


def test_a_match_formed_around_a_mask_is_masked_too() -> None:
    # "b" first leaves "a…c"; "a.c" then matches the joined text.
    r = rules(redact=["b", "a.c"])
    assert r.redact_text("xabcx") == "x…x"


def test_media_of_a_listed_player_is_dropped_or_reduced() -> None:
    front = Activity(app="Code", title="main.py", media=Media(player="spotify", title="Song"))
    assert apply_privacy(front, rules(never_capture=[("spotify", "private")])) == Activity(
        app="Code", title="main.py"
    )
    assert apply_privacy(front, rules(never_introspect=["Spotify"])) == Activity(
        app="Code", title="main.py", media=Media(player="spotify")
    )


@pytest.mark.parametrize(
    ("kw", "field", "index", "message"),
    [
        ({"redact": ["ok", "(open"]}, "redact", 1, "is not a regular expression"),
        ({"redact": ["x*"]}, "redact", 0, "matches the empty string"),
        ({"redact": [r"\W"]}, "redact", 0, "matches the mask '…' itself"),
        ({"never_capture": [("", "private")]}, "never_capture", 0, "empty app name"),
        ({"never_introspect": ["a", " "]}, "never_introspect", 1, "empty app name"),
    ],
)
def test_unusable_rules_say_which_and_why(
    kw: dict[str, object], field: str, index: int, message: str
) -> None:
    with pytest.raises(RuleError) as caught:
        rules(**kw)
    assert (caught.value.field, caught.value.index) == (field, index)
    assert message in caught.value.message


# -- properties -----------------------------------------------------------------------------

texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
secrets = st.text(st.characters(min_codepoint=ord("a"), max_codepoint=ord("z")), min_size=1)


@st.composite
def activities(draw: st.DrawFn, secret: str | None = None) -> Activity:
    def text() -> str:
        parts = draw(st.lists(texts, max_size=4))
        return (secret or "").join(parts) if secret and draw(st.booleans()) else "".join(parts)

    def maybe() -> str | None:
        return text() if draw(st.booleans()) else None

    media = None
    if draw(st.booleans()):
        media = Media(player=draw(st.sampled_from(["spotify", "vlc"])), title=text(), artist=text())
    return Activity(
        app=draw(st.sampled_from(["Code", "Firefox", "xterm"])),
        title=text(),
        url=maybe(),
        process=draw(st.sampled_from([None, "code", "firefox"])),
        idle=draw(st.booleans()),
        program=maybe(),
        project=maybe(),
        file=maybe(),
        media=media,
    )


def sent_texts(activity: Activity) -> list[str]:
    out = [activity.title, activity.url, activity.program, activity.project, activity.file]
    if activity.media is not None:
        out += [activity.media.title, activity.media.artist]
    return [t for t in out if t]


@settings(max_examples=300)
@given(st.data(), secrets, st.sampled_from(["…", "***", "[#]", ""]))
def test_a_redacted_word_never_appears_in_what_is_sent(
    data: st.DataObject, secret: str, mask: str
) -> None:
    # Patterns that cannot match the mask: a literal word of letters (the mask has none),
    # and its case-insensitive form.
    pattern = data.draw(st.sampled_from([re.escape(secret), "(?i)" + re.escape(secret)]))
    activity = data.draw(activities(secret))
    out = apply_privacy(activity, rules(redact=[pattern], mask=mask))
    assert out is not None
    for text in sent_texts(out):
        assert re.search(pattern, text) is None, (text, pattern)


@given(activities(), st.sampled_from(["code", "co*", "*", "FIRE*", "xterm"]))
def test_a_never_captured_app_leaves_only_the_private_marker(activity: Activity, glob: str) -> None:
    r = rules(never_capture=[(glob, "private")])
    out = apply_privacy(activity, r)
    if r.blocked(activity.app, activity.process) is not None:
        assert out == Activity(app="private", private=True, idle=activity.idle)
    else:
        assert out == activity


@given(activities(), st.sampled_from(["code", "*", "firefox"]))
def test_a_never_introspected_app_sends_no_text_but_its_name(activity: Activity, glob: str) -> None:
    r = rules(never_introspect=[glob])
    out = apply_privacy(activity, r)
    assert out is not None
    if not r.introspects(activity.app, activity.process):
        assert sent_texts(out) == []
        assert out.media is None
        assert out.app == activity.app


@given(activities())
def test_privacy_is_idempotent(activity: Activity) -> None:
    r = rules(
        never_capture=[("xterm", "private")],
        never_introspect=["firefox"],
        redact=[r"\d+", "(?i)secret"],
    )
    once = apply_privacy(activity, r)
    assert once is not None
    assert apply_privacy(once, r) == once
