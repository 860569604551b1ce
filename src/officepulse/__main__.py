import sys

from officepulse.cli import main

sys.exit(main())
