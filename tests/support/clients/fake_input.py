"""Input into KWin for the Wayland tests, through KWin's own fake-input protocol
(``org_kde_kwin_fake_input``, plasma-wayland-protocols' fake-input.xml), run with the system's
Python as the session's user. KWin handles it as it does a real device's events: through its
input pipeline, so it resets idle time and reaches the focused window.

KWin offers the protocol only to a client it trusts: one whose executable it can read and
match with /proc/PID/exe (a system binary, as the session's user), and, unless
KWIN_WAYLAND_NO_PERMISSION_CHECKS=1, one a .desktop file allows it. So this is a process of
its own, not the test's (root's) connection.

Prints ``ready`` once bound (or what is missing, and exits 1); then each line read on stdin,
``pointer DX DY`` (a relative motion) or ``key CODE`` (a Linux key code, pressed and
released), is sent and answered ``ok`` once KWin has handled it. End of input ends it.
"""

import os
import socket
import struct
import sys

INTERFACE = "org_kde_kwin_fake_input"
AUTHENTICATE, POINTER_MOTION, KEYBOARD_KEY = 0, 1, 10  # requests
KEYBOARD_VERSION = 4  # keyboard_key came in version 4
DISPLAY, REGISTRY = 1, 2


def message(object_id: int, opcode: int, args: bytes = b"") -> bytes:
    return struct.pack("=II", object_id, (8 + len(args)) << 16 | opcode) + args


def string(text: str) -> bytes:
    raw = text.encode() + b"\0"
    return struct.pack("=I", len(raw)) + raw + b"\0" * (-len(raw) % 4)


class Connection:
    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buffer = b""
        self.next_id = 3
        self.globals: dict[str, tuple[int, int]] = {}
        self.sock.sendall(message(DISPLAY, 1, struct.pack("=I", REGISTRY)))  # get_registry
        self.roundtrip()

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def roundtrip(self) -> None:
        callback = self.new_id()
        self.sock.sendall(message(DISPLAY, 0, struct.pack("=I", callback)))  # sync
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                sys.exit("KWin closed the connection")
            self.buffer += chunk
            while len(self.buffer) >= 8:
                object_id, size_opcode = struct.unpack_from("=II", self.buffer)
                size, opcode = size_opcode >> 16, size_opcode & 0xFFFF
                if len(self.buffer) < size:
                    break
                payload, self.buffer = self.buffer[8:size], self.buffer[size:]
                if object_id == DISPLAY and opcode == 0:  # error
                    sys.exit(f"KWin reported a protocol error: {payload[12:-1]!r}")
                if object_id == REGISTRY and opcode == 0:  # global
                    name, length = struct.unpack_from("=II", payload)
                    interface = payload[8 : 8 + length - 1].decode()
                    (version,) = struct.unpack_from("=I", payload, 8 + length + (-length % 4))
                    self.globals[interface] = (name, version)
                if object_id == callback:  # done
                    return


conn = Connection(os.path.join(os.environ["XDG_RUNTIME_DIR"], os.environ["WAYLAND_DISPLAY"]))
if INTERFACE not in conn.globals:
    print(f"KWin offers no {INTERFACE} to this client", flush=True)
    sys.exit(1)
name, offered = conn.globals[INTERFACE]
version = min(offered, KEYBOARD_VERSION)
device = conn.new_id()
bind = struct.pack("=I", name) + string(INTERFACE) + struct.pack("=II", version, device)
conn.sock.sendall(message(REGISTRY, 0, bind))
conn.sock.sendall(message(device, AUTHENTICATE, string("officepulse tests") + string("tests")))
conn.roundtrip()
print("ready", flush=True)

for line in sys.stdin:
    what, *args = line.split()
    if what == "pointer":
        dx, dy = (round(float(a) * 256) for a in args)  # wl_fixed: 24.8
        conn.sock.sendall(message(device, POINTER_MOTION, struct.pack("=ii", dx, dy)))
    elif what == "key" and version >= KEYBOARD_VERSION:
        for state in (1, 0):  # pressed, released
            key = struct.pack("=II", int(args[0]), state)
            conn.sock.sendall(message(device, KEYBOARD_KEY, key))
    else:
        sys.exit(f"cannot do {line.strip()!r} (fake-input version {version})")
    conn.roundtrip()
    print("ok", flush=True)
