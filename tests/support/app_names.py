"""What the app-name tests share: a temporary XDG data directory with desktop entries,
and a JSON PUT to the server's API."""

from __future__ import annotations

import json
import struct
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import Any

from tests.support.processes import WAIT
from tests.support.servers import ServerProcess

# Real desktop entries, cut down: LibreOffice's own (matched by the file's id), VS Code's
# (matched by StartupWMClass) and one hidden by its Hidden key.
ENTRIES = {
    "libreoffice-writer.desktop": (
        "[Desktop Entry]\nVersion=1.0\nType=Application\nName=LibreOffice Writer\n"
        "Name[de]=LibreOffice Writer\nGenericName=Word Processor\n"
        "Exec=libreoffice --writer %U\nIcon=libreoffice-writer\n"
        "[Desktop Action NewDocument]\nName=New Document\nExec=libreoffice --writer\n"
    ),
    "code.desktop": (
        "[Desktop Entry]\nName=Visual Studio Code\nType=Application\n"
        "Exec=/usr/share/code/code %F\nIcon=vscode\nStartupWMClass=Code\n"
    ),
    "xterm.desktop": "[Desktop Entry]\nType=Application\nName=XTerm\nHidden=true\n",
}


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real PNG of one colour (signature, IHDR, IDAT, IEND), as the PNG spec lays out."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    rows = b"".join(b"\0" + bytes(rgb) * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# LibreOffice Writer's icon in the hicolor theme, as the package installs it (48 px).
WRITER_ICON = png(48, 48, (21, 101, 192))


def desktop_entries(root: Path) -> dict[str, str | None]:
    """Writes ENTRIES under ``root``/share/applications, and Writer's icon in its hicolor
    theme; the environment that makes an agent read them (and nothing of this computer's
    own)."""
    apps = root / "share" / "applications"
    apps.mkdir(parents=True)
    for name, text in ENTRIES.items():
        (apps / name).write_text(text)
    icons = root / "share" / "icons" / "hicolor" / "48x48" / "apps"
    icons.mkdir(parents=True)
    (icons / "libreoffice-writer.png").write_bytes(WRITER_ICON)
    (root / "home-share").mkdir()
    return {
        "XDG_DATA_DIRS": str(root / "share"),
        "XDG_DATA_HOME": str(root / "home-share"),
        "LANG": "C.UTF-8",
        "LC_ALL": None,
        "LC_MESSAGES": None,
    }


def put_json(server: ServerProcess, path: str, body: Any) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        server.url + path, data=data, method="PUT", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        answer = json.loads(exc.read())
        exc.close()
        return exc.code, answer
