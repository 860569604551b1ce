"""Where the dashboard's third-party scripts come from: the npm packages that
`make setup` installs (package.json pins them). They are served, never copied."""

from __future__ import annotations

from pathlib import Path

VENDOR_FILES = {
    "htmx.min.js": Path("htmx.org/dist/htmx.min.js"),
    "ws.js": Path("htmx-ext-ws/dist/ws.js"),
}


def find_node_modules(assets_dir: str | None) -> Path | None:
    """The node_modules folder holding every vendor file, or None.

    Looks in ``assets_dir`` when given, else the working directory and the
    source checkout this package runs from."""
    if assets_dir is not None:
        candidates = [Path(assets_dir), Path(assets_dir) / "node_modules"]
    else:
        here = Path(__file__).resolve()
        candidates = [Path.cwd() / "node_modules", *(p / "node_modules" for p in here.parents)]
    for folder in candidates:
        if all((folder / rel).is_file() for rel in VENDOR_FILES.values()):
            return folder
    return None
