"""`officepulse server` with ActivityWatch's API: the same command, with
``aw_compat.add_routes(app, self)`` at the end of ``Server.app()``, which is the
one line app.py is to get. Once app.py has it, this adds nothing and the tests
run the server exactly as `officepulse server` does.

Usage: python tests/data/aw/serve.py [officepulse arguments...]
"""

from __future__ import annotations

import sys

from aiohttp import web

from officepulse.cli import main
from officepulse.server import app as app_module
from officepulse.server import aw_compat

_plain_app = app_module.Server.app


def _app_with_aw(self: app_module.Server) -> web.Application:
    application = _plain_app(self)
    if aw_compat.AW_API not in application:
        aw_compat.add_routes(application, self)
    return application


app_module.Server.app = _app_with_aw  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
