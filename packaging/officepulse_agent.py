"""The packaged agent's entry point (packaging/officepulse-agent.spec): ``officepulse-agent``."""

import sys

from officepulse.cli.packaged import main

if __name__ == "__main__":
    sys.exit(main())
