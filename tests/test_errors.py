"""One exception root: every exception class officepulse defines is under
``OfficepulseError`` and drawn in officepulse/errors.py's tree, and a hint travels
with the message wherever the error is shown."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import officepulse
from officepulse import errors
from officepulse.errors import OfficepulseError
from officepulse.gateway.admission import credential_revoked
from officepulse.protocol.errors import ConversationError, ProtocolError, Refusal
from officepulse.security.enrollment import TokenOptionError, check_options


def exception_classes() -> list[type[BaseException]]:
    """Every exception class defined in a module of the package (``__main__`` runs the
    command when imported, and defines none)."""
    found: list[type[BaseException]] = []
    for module in pkgutil.walk_packages(officepulse.__path__, "officepulse."):
        if module.name.endswith(".__main__"):
            continue
        for obj in vars(importlib.import_module(module.name)).values():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__ == module.name
            ):
                found.append(obj)
    return found


def test_the_walk_finds_the_exceptions_of_every_layer() -> None:
    names = {cls.__name__ for cls in exception_classes()}
    # One from each corner, so that a walk that stopped early cannot pass the tests below.
    assert {"ProtocolError", "SettingsError", "StoreRefused", "SourceUnavailable"} <= names
    assert {"AwError", "PeriodError", "Rejected", "CliError", "FormError"} <= names
    assert len(names) >= 30


def test_every_exception_class_is_under_the_root() -> None:
    strays = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in exception_classes()
        if not issubclass(cls, OfficepulseError)
    ]
    assert strays == [], "not under OfficepulseError (officepulse/errors.py)"


def test_every_exception_class_is_drawn_in_the_tree() -> None:
    tree = errors.__doc__ or ""
    drawn = set(re.findall(r"\b[A-Z]\w+\b", tree))
    missing = sorted({cls.__name__ for cls in exception_classes()} - drawn)
    assert missing == [], "add them to the tree in officepulse/errors.py's docstring"


def test_one_form_error_for_every_page() -> None:
    from officepulse.panel.pages import category_editor, people

    assert category_editor.FormError is people.FormError is errors.FormError


def test_refusals_and_protocol_errors_are_told_apart() -> None:
    assert issubclass(Refusal, ConversationError)
    assert issubclass(ProtocolError, ConversationError)
    assert not issubclass(Refusal, ProtocolError)
    assert not issubclass(ProtocolError, Refusal)
    assert isinstance(credential_revoked(), Refusal)


def test_a_hint_is_said_after_the_message_and_kept_apart() -> None:
    plain = OfficepulseError("the disk is full")
    assert plain.hint is None
    assert str(plain) == "the disk is full"
    hinted = OfficepulseError("the disk is full", hint="free some space")
    assert hinted.hint == "free some space"
    assert str(hinted) == "the disk is full; free some space"


def test_a_token_option_names_what_to_give() -> None:
    with pytest.raises(TokenOptionError) as caught:
        check_options("", 0, 1)
    assert caught.value.hint == "give more than 0 and at most a year (8784)"
    assert str(caught.value) == "expires_in_hours is 0; give more than 0 and at most a year (8784)"
    assert isinstance(caught.value, ValueError)  # callers that catch bad input still do
