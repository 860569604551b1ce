"""Where the dashboard's third-party scripts and CSS come from: the npm packages package.json
pins. A built wheel carries copies of them (setup.py puts them in ``static/vendor/`` at
build time), so that an installed server needs no npm; a checkout serves them from the
node_modules that `make setup` installs. They are never committed."""

from __future__ import annotations

from pathlib import Path

# The name each file is served as (/static/vendor/NAME), and where npm puts it.
VENDOR_FILES = {
    "htmx.min.js": Path("htmx.org/dist/htmx.min.js"),
    "ws.js": Path("htmx-ext-ws/dist/ws.js"),
    # The pages' CSS base (forms, tables, dark mode from prefers-color-scheme);
    # officepulse.css adds the dashboard's own parts on top of it.
    "pico.min.css": Path("@picocss/pico/css/pico.min.css"),
}
# The dashboard's own files (CSS, JS, icon), served under /static/.
STATIC = Path(__file__).parent / "static"
# Inside the package, relative to this file's folder: where a wheel has its copies.
PACKAGED = Path("static/vendor")


def find_vendor_files(assets_dir: str | None) -> dict[str, Path] | None:
    """Every vendor file by the name it is served as, or None when one is missing.

    Looks in ``assets_dir`` (a node_modules folder, or the folder holding one) when it is
    given; else in the copies built into the installed package, then in node_modules in
    the working directory and the source checkout this package runs from."""
    here = Path(__file__).resolve().parent
    if assets_dir is not None:
        modules = [Path(assets_dir), Path(assets_dir) / "node_modules"]
    else:
        packaged = {name: here / PACKAGED / name for name in VENDOR_FILES}
        if all(path.is_file() for path in packaged.values()):
            return packaged
        modules = [Path.cwd() / "node_modules", *(p / "node_modules" for p in here.parents)]
    for folder in modules:
        found = {name: folder / rel for name, rel in VENDOR_FILES.items()}
        if all(path.is_file() for path in found.values()):
            return found
    return None


def npm_package(rel: Path) -> str:
    """The npm package a vendor file is in: its first folder, or its first two for a
    scoped package (``@picocss/pico``)."""
    return "/".join(rel.parts[:2]) if rel.parts[0].startswith("@") else rel.parts[0]
