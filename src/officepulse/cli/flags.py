"""Settings as flags: every setting of a command is also its flag (``--port`` is
OFFICEPULSE_PORT in the environment or in ``.env``, see settings.py)."""

from __future__ import annotations

import argparse
from typing import Any

import msgspec

from officepulse.settings import HELP, env_name


def add_setting_flags(parser: argparse.ArgumentParser, cls: type[msgspec.Struct]) -> None:
    for field in msgspec.structs.fields(cls):
        flag = "--" + field.name.replace("_", "-")
        default = field.default if field.default is not msgspec.NODEFAULT else None
        shown = f" (default: {default})" if default not in (None, "") else ""
        # A yes/no setting's flag alone means yes: `--dev-tls` is `--dev-tls true`.
        switch = {"nargs": "?", "const": "true"} if field.type is bool else {}
        parser.add_argument(
            flag,
            dest=field.name,
            default=None,
            metavar=field.name.upper(),
            help=f"{HELP.get(field.name, '')}{shown}; env {env_name(field.name)}",
            **switch,  # type: ignore[arg-type]
        )


def setting_flags(args: argparse.Namespace, cls: type[msgspec.Struct]) -> dict[str, Any]:
    """The flags of ``cls``'s settings as parsed (None where not given), for ``load``."""
    given = vars(args)
    return {name: given[name] for name in cls.__struct_fields__ if name in given}
