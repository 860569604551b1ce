"""App names in the store (store/app_names.py AppNameRow), on SQLite and on a real PostgreSQL:
what agents report, what an admin sets, and which one is shown."""

from __future__ import annotations

import pytest

from officepulse.store.app_names import AppNameRow
from officepulse.store.base import Store
from tests.support.app_names import png
from tests.support.stores import store as store

pytest_plugins = ["tests.support.postgres"]
pytestmark = pytest.mark.timeout(60)


async def test_reported_names_are_kept_and_the_latest_wins(store: Store) -> None:
    assert await store.app_names() == []
    await store.report_app_names(
        {"libreoffice-writer": ("LibreOffice Writer", None), "Code": ("Code", None)}
    )
    await store.report_app_names({"Code": ("Visual Studio Code", None)})
    assert await store.app_names() == [
        AppNameRow("Code", "Visual Studio Code", None),
        AppNameRow("libreoffice-writer", "LibreOffice Writer", None),
    ]


async def test_an_override_wins_and_can_be_taken_back(store: Store) -> None:
    await store.report_app_names({"Code": ("Visual Studio Code", None)})
    await store.set_app_name("Code", "Editor")
    await store.set_app_name("XTerm", "Terminal")  # an app no agent named
    # A later report changes what is reported, never what the admin set.
    await store.report_app_names({"Code": ("Code - OSS", None)})
    rows = await store.app_names()
    assert rows == [
        AppNameRow("Code", "Code - OSS", "Editor"),
        AppNameRow("XTerm", None, "Terminal"),
    ]
    assert [r.name for r in rows] == ["Editor", "Terminal"]
    await store.set_app_name("Code", None)
    (code, _) = await store.app_names()
    assert code.name == "Code - OSS"


async def test_an_icon_is_kept_until_another_replaces_it(store: Store) -> None:
    first, second = png(16, 16, (255, 0, 0)), png(16, 16, (0, 0, 255))
    await store.report_app_names({"Code": ("Visual Studio Code", first)})
    assert await store.app_icon("Code") == first
    assert (await store.app_names())[0].has_icon
    await store.report_app_names({"Code": ("Visual Studio Code", None)})  # no icon: kept
    assert await store.app_icon("Code") == first
    await store.report_app_names({"Code": ("Visual Studio Code", second)})
    assert await store.app_icon("Code") == second
    assert await store.app_icon("XTerm") is None
