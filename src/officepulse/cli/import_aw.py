"""``officepulse import-aw FILE``: an ActivityWatch export into the database (the
importer is activitywatch/importer.py); importing the same file again changes nothing."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from officepulse.cli.database import add_database_flag, chosen
from officepulse.database_choice import shown
from officepulse.errors import StoreUnavailable


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    imp = sub.add_parser(
        "import-aw",
        help="import an ActivityWatch export (aw-buckets-export.json)",
        description="Import an ActivityWatch export into the database; importing again "
        "changes nothing.",
    )
    imp.add_argument("file", help="the export file")
    add_database_flag(imp)
    imp.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Import, say what was done; 0, 2 on a bad file, 1 when the database cannot be
    opened."""
    from officepulse.activitywatch.importer import import_file
    from officepulse.activitywatch.model import AwError

    database = chosen(args, "import-aw")
    if database is None:
        return 2
    try:
        report = asyncio.run(import_file(Path(args.file), database))
    except AwError as exc:
        print(f"officepulse import-aw: {exc.message}", file=sys.stderr)
        return 2
    except StoreUnavailable as exc:  # says which database, never with its password
        print(f"officepulse import-aw: {exc}", file=sys.stderr)
        return 1
    print(f"imported {args.file} into {shown(database)}: {report}")
    return 0
