"""Where the agent reads the desktop from. One module per platform; nothing is
opened at import time, and the backend is chosen at run time (see ``select``)."""
