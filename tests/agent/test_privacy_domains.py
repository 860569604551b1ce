"""The domain-only list: pages of the listed sites are sent as the site's name alone. Pure
(``apply_privacy``), and the config file's key with its errors."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from officepulse.agent.config import ConfigError, parse_config
from officepulse.agent.privacy import PrivacyRules, RuleError, apply_privacy
from officepulse.protocol.messages import Activity, Media

PAGE = Activity(
    app="Chromium",
    title="Inbox (3) — ada@corp.example — Mail",
    url="https://mail.corp.example/u/0/#inbox/FMfcgz",
    process="chromium",
    pid=77,
    media=Media(player="Chromium", playing=True),
)


def domains(*entries: str) -> PrivacyRules:
    return PrivacyRules.build(domain_only=entries)


@pytest.mark.parametrize(
    "entry", ["mail.corp.example", "corp.example", "*.corp.example", "CORP.Example", "example."]
)
def test_a_listed_site_and_those_under_it_send_their_name_only(entry: str) -> None:
    sent = apply_privacy(PAGE, domains(entry))
    assert sent == msgspec.structs.replace(
        PAGE, title="mail.corp.example", url="https://mail.corp.example/"
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://othercorp.example/",  # not under corp.example: a name that only ends alike
        "https://corp.example.evil.test/",
        "file:///home/ada/corp.example.html",
        "about:blank",
        None,
    ],
)
def test_other_pages_are_sent_as_they_are(url: str | None) -> None:
    page = msgspec.structs.replace(PAGE, url=url)
    assert apply_privacy(page, domains("corp.example")) == page


def test_the_scheme_port_and_login_are_not_sent() -> None:
    page = msgspec.structs.replace(PAGE, url="http://ada:pw@Mail.Corp.Example:8443/x?q=1")
    sent = apply_privacy(page, domains("corp.example"))
    assert sent is not None
    assert (sent.title, sent.url) == ("mail.corp.example", "https://mail.corp.example/")


def test_international_names_match_as_browsers_write_them() -> None:
    page = msgspec.structs.replace(PAGE, url="https://xn--bcher-kva.example/warenkorb")
    sent = apply_privacy(page, domains("bücher.example"))
    assert sent is not None
    assert (sent.title, sent.url) == ("xn--bcher-kva.example", "https://xn--bcher-kva.example/")


def test_the_other_lists_come_first_and_redaction_after() -> None:
    never = PrivacyRules.build(never_introspect=["chromium"], domain_only=["corp.example"])
    assert apply_privacy(PAGE, never) == Activity(app="Chromium", process="chromium", pid=77)
    hidden = PrivacyRules.build(
        never_capture=[("chromium", "private")], domain_only=["corp.example"]
    )
    sent = apply_privacy(PAGE, hidden)
    assert sent is not None
    assert sent.private
    masked = PrivacyRules.build(redact=["corp"], domain_only=["corp.example"])
    sent = apply_privacy(PAGE, masked)
    assert sent is not None
    assert (sent.title, sent.url) == ("mail.….example", "https://mail.….example/")


@given(
    path=st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1),
    title=st.text(min_size=1),
)
def test_nothing_of_the_page_is_sent(path: str, title: str) -> None:
    secret = "Zq" + title  # something that is not in the domain's name
    page = msgspec.structs.replace(
        PAGE, title=secret, url="https://mail.corp.example/" + path + secret
    )
    sent = apply_privacy(page, domains("corp.example"))
    assert sent is not None
    assert secret not in msgspec.json.encode(sent).decode()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "https://mail.corp.example/inbox",
            "'https://mail.corp.example/inbox' is not a domain name; write the domain alone, "
            "e.g. 'mail.corp.example'",
        ),
        ("corp.example:8080", "is not a domain name; write the domain alone, e.g. 'corp"),
        ("corp..example", "'corp..example' is not a domain name"),
        ("mail corp", "'mail corp' is not a domain name"),
        ("*", "'*' is not a domain name"),
    ],
)
def test_an_entry_that_is_not_a_domain_is_refused(entry: str, message: str) -> None:
    with pytest.raises(RuleError) as caught:
        domains(entry)
    assert caught.value.field == "domain_only"
    assert caught.value.index == 0
    assert message in str(caught.value)


def test_the_config_file_key(tmp_path: Path) -> None:
    config = parse_config(
        '[privacy]\ndomain_only = ["mail.corp.example", "bank.example"]\n', tmp_path / "a.toml"
    )
    assert config.rules.domain_only == ("mail.corp.example", "bank.example")
    with pytest.raises(ConfigError) as caught:
        parse_config(
            '[privacy]\nredact = []\ndomain_only = [\n  "ok.example",\n  "https://x.example/",\n]\n',
            Path("agent.toml"),
        )
    assert str(caught.value).startswith(
        "agent.toml, line 3: privacy.domain_only[1]: 'https://x.example/' is not a domain name"
    )
    with pytest.raises(ConfigError, match=r"privacy.domain_only\[0\]: expected a string"):
        parse_config("[privacy]\ndomain_only = [5]\n", Path("agent.toml"))


def test_the_documented_example_parses() -> None:
    from officepulse.agent import config

    doc = config.__doc__ or ""
    lines = doc[doc.index("[privacy]") :].splitlines()
    # The example: "[privacy]" and the indented lines after it, up to the prose.
    end = next(i for i, line in enumerate(lines) if i and line and not line.startswith(" "))
    text = "\n".join(line.removeprefix("    ") for line in lines[:end])
    parsed = parse_config(text.replace("\\\\", "\\"), Path("agent.toml"))
    assert parsed.rules.domain_only == ("mail.google.com", "mybank.example")
