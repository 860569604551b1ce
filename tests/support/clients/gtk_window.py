"""A GTK 3 window for the Wayland tests, run with the system's Python (python3-gi).

``gtk_window.py TITLE APP_ID``: shows one window whose Wayland app id is APP_ID. Each line
read on stdin becomes its new title; end of input closes it. Prints ``shown`` once mapped.
foot cannot stand in on KWin (it crashes on KWin's -1 mm virtual output) or on GNOME.
"""

import sys

import gi

gi.require_version("Gtk", "3.0")
from gi.repository import GLib, Gtk  # noqa: E402

title, app_id = sys.argv[1], sys.argv[2]
GLib.set_prgname(app_id)  # GTK 3 sends the program name as the xdg_toplevel app id
window = Gtk.Window(title=title)
window.set_default_size(400, 300)
window.connect("destroy", Gtk.main_quit)
window.connect("map-event", lambda *_: print("shown", flush=True) and False)


def on_input(channel: GLib.IOChannel, condition: GLib.IOCondition) -> bool:
    line = sys.stdin.readline()
    if not line:
        Gtk.main_quit()
        return False
    window.set_title(line.rstrip("\n"))
    return True


GLib.io_add_watch(GLib.IOChannel.unix_new(sys.stdin.fileno()), GLib.IO_IN | GLib.IO_HUP, on_input)
window.show_all()
Gtk.main()
