"""agent/app_names.py: desktop entries read from real files in a temporary XDG layout, as
the Desktop Entry spec says (ids, precedence, Hidden, Type, locales, escapes)."""

from __future__ import annotations

from pathlib import Path

from officepulse.agent.app_names import (
    AppNamer,
    DesktopEntries,
    data_dirs,
    icon_png,
    locale_keys,
    unescape,
)
from officepulse.agent.drivers import DesktopDriver
from officepulse.agent.journal import Journal
from officepulse.agent.link import Link
from officepulse.agent.privacy import PrivacyRules
from officepulse.agent.sources.base import WindowSample
from officepulse.protocol.codec import encode
from officepulse.protocol.messages import MAX_ICON_BYTES, AppName, Hello, Welcome
from tests.support.app_names import png

WRITER = """\
[Desktop Entry]
Version=1.0
Type=Application
Name=LibreOffice Writer
Name[de]=LibreOffice Writer (Textverarbeitung)
GenericName=Word Processor
Comment=Create and edit text; 100% compatible: a value with %U and ; and : in it
Exec=libreoffice --writer %U
Icon=libreoffice-writer
# a comment
; not a comment in a desktop file, just a line configparser must not choke on=1

[Desktop Action NewDocument]
Name=New Document
Exec=libreoffice --writer
"""

CODE = """\
[Desktop Entry]
Name=Visual Studio Code
Type=Application
StartupWMClass=Code
Icon=vscode
"""


def write(root: Path, rel: str, text: str) -> Path:
    path = root / "applications" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_an_app_is_found_by_its_window_class_or_its_desktop_file_id(tmp_path: Path) -> None:
    write(tmp_path, "libreoffice-writer.desktop", WRITER)
    write(tmp_path, "code.desktop", CODE)
    write(tmp_path, "org.gnome.Nautilus.desktop", "[Desktop Entry]\nType=Application\nName=Files\n")
    entries = DesktopEntries([tmp_path], "C.UTF-8")
    assert entries.name("libreoffice-writer") == "LibreOffice Writer"  # the id
    assert entries.name("Code") == "Visual Studio Code"  # StartupWMClass
    assert entries.name("code") == "Visual Studio Code"  # without case
    assert entries.name("org.gnome.Nautilus") == "Files"
    assert entries.name("Nautilus") == "Files"  # the id's last dotted part
    assert entries.name("XTerm") is None
    entry = entries.entry("Code")
    assert entry is not None
    assert entry.icon == "vscode"


def test_the_persons_language_is_read_with_the_specs_fallbacks(tmp_path: Path) -> None:
    write(tmp_path, "libreoffice-writer.desktop", WRITER)
    assert DesktopEntries([tmp_path], "de_AT.UTF-8@euro").name("libreoffice-writer") == (
        "LibreOffice Writer (Textverarbeitung)"
    )
    assert DesktopEntries([tmp_path], "fr_FR.UTF-8").name("libreoffice-writer") == (
        "LibreOffice Writer"
    )
    assert locale_keys("de_AT.UTF-8@euro") == [
        "Name[de_AT@euro]",
        "Name[de_AT]",
        "Name[de@euro]",
        "Name[de]",
        "Name",
    ]
    assert locale_keys("C") == locale_keys(None) == ["Name"]


def test_an_earlier_directory_hides_the_same_id_later_and_hidden_deletes(tmp_path: Path) -> None:
    home, system = tmp_path / "home", tmp_path / "usr"
    write(system, "code.desktop", CODE)
    write(home, "code.desktop", CODE.replace("Visual Studio Code", "My Code"))
    write(system, "gimp.desktop", "[Desktop Entry]\nType=Application\nName=GIMP\n")
    write(home, "gimp.desktop", "[Desktop Entry]\nType=Application\nName=GIMP\nHidden=true\n")
    write(system, "link.desktop", "[Desktop Entry]\nType=Link\nName=A link\nURL=x\n")
    write(system, "kde4/okular.desktop", "[Desktop Entry]\nType=Application\nName=Okular\n")
    write(system, "broken.desktop", "no group at all\n")
    (system / "applications" / "bad.desktop").write_bytes(b"[Desktop Entry]\nName=\xff\n")
    entries = DesktopEntries([home, system], None)
    assert entries.name("Code") == "My Code"
    assert entries.name("gimp") is None  # deleted by the user's Hidden entry
    assert entries.name("link") is None
    assert entries.name("kde4-okular") == "Okular"
    assert entries.name("broken") is None
    assert entries.name("bad") is None


def test_xdg_directories_follow_the_base_directory_spec() -> None:
    env = {"HOME": "/home/ann", "XDG_DATA_DIRS": "/opt/share:/usr/share"}
    assert [str(d) for d in data_dirs(env)] == [
        "/home/ann/.local/share",
        "/opt/share",
        "/usr/share",
    ]
    env = {"HOME": "/home/ann", "XDG_DATA_HOME": "/data"}
    assert [str(d) for d in data_dirs(env)] == ["/data", "/usr/local/share", "/usr/share"]


def test_an_app_installed_later_is_found_at_the_next_rescan(tmp_path: Path) -> None:
    now = [0.0]
    entries = DesktopEntries([tmp_path], None, rescan=300, clock=lambda: now[0])
    assert entries.name("Code") is None
    write(tmp_path, "code.desktop", CODE)
    now[0] = 299
    assert entries.name("Code") is None  # not read again yet
    now[0] = 300
    assert entries.name("Code") == "Visual Studio Code"


def test_escapes_and_the_namer() -> None:
    assert unescape(r"A\sB\\C\tD\x") == "A B\\C\tD\\x"
    namer = AppNamer(None)
    namer.learn("chrome", "Google Chrome")
    namer.learn("Finder", "Finder")  # the app itself: nothing to tell
    assert namer.name("chrome") == "Google Chrome"
    assert namer.name("Finder") is None
    assert namer.name("private") is None
    assert namer.name("paused") is None
    namer.learn("long", "x" * 300)
    assert namer.name("long") == "x" * 256


class OneWindow:
    """A window source that always shows one window (the OS boundary)."""

    def __init__(self, sample: WindowSample) -> None:
        self.sample = sample

    def active_window(self) -> WindowSample:
        return self.sample

    def close(self) -> None:
        """Nothing to close."""


def test_a_name_the_source_gives_is_learned_through_the_driver() -> None:
    namer = AppNamer(None)
    chrome = WindowSample(app="chrome", title="New Tab", process="chrome.exe", name="Google Chrome")
    driver = DesktopDriver(
        OneWindow(chrome),
        None,
        poll_interval=1,
        idle_threshold=180,
        privacy=PrivacyRules(),
        introspect=None,
        learn=namer.learn,
    )
    assert namer.name("chrome") is None
    driver.look()
    assert namer.name("chrome") == "Google Chrome"


def test_an_icon_is_the_themes_png_near_48_px(tmp_path: Path) -> None:
    home, system = tmp_path / "home", tmp_path / "usr"
    big, small = png(48, 48, (1, 2, 3)), png(32, 32, (4, 5, 6))
    hicolor = system / "icons" / "hicolor"
    for size, data in (("48x48", big), ("32x32", small)):
        (hicolor / size / "apps").mkdir(parents=True)
        (hicolor / size / "apps" / "writer.png").write_bytes(data)
    (hicolor / "scalable" / "apps").mkdir(parents=True)
    (hicolor / "scalable" / "apps" / "inkscape.svg").write_text("<svg/>")
    (system / "pixmaps").mkdir()
    (system / "pixmaps" / "xterm.png").write_bytes(small)
    (system / "pixmaps" / "huge.png").write_bytes(png(200, 200, (9, 9, 9)) + b"\0" * MAX_ICON_BYTES)
    (system / "pixmaps" / "fake.png").write_bytes(b"GIF89a not a png")
    dirs = [home, system]
    assert icon_png("writer", dirs) == big
    assert icon_png("writer.png", dirs) == big
    assert icon_png("xterm", dirs) == small  # pixmaps/
    assert icon_png(str(system / "pixmaps" / "xterm.png"), dirs) == small  # a path
    assert icon_png("inkscape", dirs) is None  # SVG only
    assert icon_png("huge", dirs) is None
    assert icon_png("fake", dirs) is None
    assert icon_png(None, dirs) is None


def test_what_the_agent_tells_of_an_app(tmp_path: Path) -> None:
    write(tmp_path, "libreoffice-writer.desktop", WRITER)
    write(tmp_path, "code.desktop", CODE)
    icon = png(48, 48, (1, 2, 3))
    (tmp_path / "icons" / "hicolor" / "48x48" / "apps").mkdir(parents=True)
    (tmp_path / "icons" / "hicolor" / "48x48" / "apps" / "libreoffice-writer.png").write_bytes(icon)
    namer = AppNamer(DesktopEntries([tmp_path], None))
    assert namer.describe("libreoffice-writer") == AppName(
        app="libreoffice-writer", name="LibreOffice Writer", icon=icon
    )
    assert namer.describe("Code") == AppName(app="Code", name="Visual Studio Code")
    assert namer.describe("XTerm") is None
    assert namer.describe("private") is None


def test_names_with_icons_go_in_messages_that_fit_the_servers_frames(tmp_path: Path) -> None:
    hello = Hello(
        v=2, agent_id="a", name="A", host="h", platform="Linux", agent_version="t", tz="UTC"
    )
    journal = Journal(tmp_path / "journal.sqlite3")
    link = Link("ws://127.0.0.1:9/agent", hello, journal, encoding="json")
    link.welcome = Welcome(
        v=2,
        session="s",
        server_version="t",
        heartbeat_interval=10,
        pulsetime=25,
        max_frame_bytes=20_000,
        app_names=True,
    )
    icon = png(40, 40, (1, 2, 3)) + b"\0" * 9_000  # about 12 KB: 16 KB in base64
    names = [AppName(app=f"app{i}", name=f"App {i}", icon=icon) for i in range(5)]
    names.append(AppName(app="big", name="Big", icon=b"\x89PNG\r\n\x1a\n" + b"\0" * 16_000))
    batches = link._name_batches(names)
    assert all(len(encode(b, "json")) <= 20_000 - 1024 for b in batches)
    assert len(batches) >= 5  # one icon per message at most, at this limit
    sent = [n for b in batches for n in b.names]
    assert [n.app for n in sent] == [n.app for n in names]  # every name, in order
    assert [n.icon is not None for n in sent] == [True] * 5 + [False]  # too big alone
    journal.close()
