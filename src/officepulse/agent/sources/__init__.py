"""Where the agent reads the desktop from. One module per platform; nothing is
opened at import time, and the backends are chosen at run time (see ``select``).

- ``base``: the capabilities (window, idle, lock) as Protocols, and ``SourceUnavailable``;
- ``select``: the tables of candidates, ``open_desktop`` and ``survey``;
- ``x11``; ``sway``, ``hyprland``, ``kde`` (a KWin script), ``gnome``, ``wayland_idle``
  (ext-idle-notify-v1), ``screensaver`` (org.freedesktop.ScreenSaver); ``macos``; ``windows``.

``python -m officepulse.agent.sources.select`` lists every backend for this desktop.
"""
