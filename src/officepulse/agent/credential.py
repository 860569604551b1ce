"""Where the agent keeps its credential: the system keyring where there is a usable one
(macOS Keychain, Windows Credential Manager, the Secret Service of GNOME or KDE), else a
file in the state folder that only its owner can read (0600). Also remembers which
enrollment token it was exchanged for (as a hash), so that an ``enroll_token`` left in
the settings is not sent again at every start.

On Linux the keyring is looked for as cheaply as it can be: the only keyrings that can
serve there are Secret Services (keyring's SecretService backend, and its libsecret one,
which talks to the same service), so where the session bus has no
``org.freedesktop.secrets`` keyring is not imported at all, and where it has one the
SecretService backend is used without loading every other backend (PyGObject's GTK
bindings among them). Memory imported stays for the agent's whole life: keyring's search
of all backends cost it 18 MB, most of it to find nothing (docs/performance.md). A
keyring chosen by its own settings (``PYTHON_KEYRING_BACKEND``, ``keyringrc.cfg``) is
used as keyring would.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

from officepulse.errors import OfficepulseError
from officepulse.security.agent_secrets import secret_hash

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

log = logging.getLogger(__name__)

KEYRING_SERVICE = "officepulse-agent"
# How long one keyring call may take. A Secret Service that waits for an unlock prompt
# nobody answers (a GNOME session without a login keyring) never replies at all.
KEYRING_DEADLINE = 10.0
SECRET_SERVICE = "org.freedesktop.secrets"
Mode = Literal["auto", "keyring", "file"]
T = TypeVar("T")


class CredentialStoreError(OfficepulseError):
    """The credential cannot be kept where asked; the message says why."""


class KeyringSilent(OfficepulseError):
    """The system keyring did not answer within the deadline."""

    def __init__(self, deadline: float) -> None:
        super().__init__(
            f"the system keyring did not answer within {deadline:g} s "
            "(probably waiting for an unlock prompt nobody answered)"
        )


def within_deadline(call: Callable[[], T], deadline: float = KEYRING_DEADLINE) -> T:
    """``call()``'s result or exception, or KeyringSilent when it takes longer than
    ``deadline``. Keyring calls block and cannot be cancelled, so the call runs in a
    daemon thread that is left behind, blocked, if it never returns: it does not keep
    the agent from going on nor from exiting."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=run, name="keyring-call", daemon=True)
    worker.start()
    worker.join(deadline)
    if worker.is_alive():
        raise KeyringSilent(deadline)
    if failure:
        raise failure[0]
    return outcome[0]


def keyring_configured(environ: Mapping[str, str]) -> bool:
    """Whether the person chose a keyring backend in keyring's own settings: the
    ``PYTHON_KEYRING_BACKEND`` variable, or a ``keyringrc.cfg`` (where keyring reads it
    on Linux: ``$XDG_CONFIG_HOME/python_keyring``)."""
    if environ.get("PYTHON_KEYRING_BACKEND"):
        return True
    root = Path(environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return (root / "python_keyring" / "keyringrc.cfg").is_file()


def secret_service_on_bus(environ: Mapping[str, str]) -> bool:
    """Whether the session bus has a Secret Service, running or activatable: the check
    keyring's SecretService backend makes, without importing it (and the cryptography
    it brings)."""
    from officepulse.agent.sources._dbus import DBusError, SessionBus
    from officepulse.agent.sources.base import SourceUnavailable

    try:
        bus = SessionBus(environ)
    except SourceUnavailable:
        return False
    try:
        if bus.name_owner(SECRET_SERVICE) is not None:
            return True
        (names,) = bus.call(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "ListActivatableNames",
        )
        return SECRET_SERVICE in names
    except (DBusError, SourceUnavailable):
        return False
    finally:
        bus.close()


def usable_keyring(environ: Mapping[str, str] = os.environ) -> KeyringBackend | None:
    """The keyring backend the credential would go to, or None when there is no
    recommended one (a headless Linux without a Secret Service, say). Blocking: call it
    through ``within_deadline``."""
    if sys.platform == "linux" and not keyring_configured(environ):
        if not secret_service_on_bus(environ):
            return None
        try:
            from keyring.backends import SecretService
        except ImportError:  # pragma: no cover - keyring is a dependency
            return None
        if not SecretService.Keyring.viable:
            return None
        backend: KeyringBackend = SecretService.Keyring()  # type: ignore[no-untyped-call]
        return backend
    try:
        import keyring
        from keyring.core import recommended
    except ImportError:  # pragma: no cover - keyring is a dependency
        return None
    backend = keyring.get_keyring()
    return backend if recommended(backend) else None


def backend_name(backend: KeyringBackend) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"


class CredentialStore:
    def __init__(
        self,
        state_dir: str | Path,
        agent_id: str,
        mode: Mode = "auto",
        deadline: float = KEYRING_DEADLINE,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.agent_id = agent_id
        self.mode = mode
        self.deadline = deadline
        self.path = self.state_dir / "credential"
        self.marker = self.state_dir / "enrolled-token"
        # Set once the keyring did not answer: it is not asked again (each try would
        # cost another deadline and leave another thread blocked), and said once.
        self._silent = False

    def _keyring_call(self, call: Callable[[], T]) -> T:
        """``call()`` with the deadline; a keyring that does not answer stops an agent
        told to use it, and is unusable (said once) for one on ``auto``."""
        try:
            return within_deadline(call, self.deadline)
        except KeyringSilent as exc:
            if self.mode == "keyring":
                raise CredentialStoreError(f"{exc}; unlock it, or use 'auto'") from exc
            self._silent = True
            # A credential kept in the keyring before is not copied nor lost: it is
            # found again at the next start where the keyring answers.
            log.warning("%s; using %s instead until a start where it answers", exc, self.path)
            raise

    def _keyring(self) -> KeyringBackend | None:
        if self.mode == "file" or self._silent:
            return None
        try:
            backend = self._keyring_call(usable_keyring)
        except KeyringSilent:
            return None
        if backend is None and self.mode == "keyring":
            raise CredentialStoreError(
                "credential_store is 'keyring' but there is no usable system keyring here "
                "(on Linux: a Secret Service such as gnome-keyring, unlocked); use 'auto'"
            )
        return backend

    def load(self) -> str | None:
        backend = self._keyring()
        if backend is not None:
            from keyring.errors import KeyringError

            try:
                found = self._keyring_call(
                    lambda: backend.get_password(KEYRING_SERVICE, self.agent_id)
                )
            except KeyringSilent:
                pass  # said; the file is the fallback
            except KeyringError as exc:
                if self.mode == "keyring":
                    raise CredentialStoreError(f"cannot read the system keyring: {exc}") from exc
                log.warning("cannot read the system keyring (%s); looking in %s", exc, self.path)
            else:
                if found:
                    return found
        try:
            return self.path.read_text().strip() or None
        except FileNotFoundError:
            return None

    def save(self, credential: str) -> str:
        """Keep the credential; says where, in words."""
        backend = self._keyring()
        if backend is not None:
            from keyring.errors import KeyringError

            try:
                self._keyring_call(
                    lambda: backend.set_password(KEYRING_SERVICE, self.agent_id, credential)
                )
            except KeyringSilent:
                pass  # said; the file is the fallback
            except KeyringError as exc:
                if self.mode == "keyring":
                    raise CredentialStoreError(f"cannot write the system keyring: {exc}") from exc
                log.warning("cannot write the system keyring (%s); using a file instead", exc)
            else:
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()  # an older copy must not outlive the keyring's
                return f"the system keyring ({backend_name(backend)})"
        self._write_private(self.path, credential + "\n")
        return f"{self.path} (readable by you only)"

    @staticmethod
    def _write_private(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        # Created 0600, never readable by others even for an instant; replaced whole.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)  # the mode given to open() is cut by the umask only
            os.write(fd, text.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)

    def enrolled_with(self, token: str) -> bool:
        try:
            return self.marker.read_text().strip() == secret_hash(token)
        except FileNotFoundError:
            return False

    def mark_enrolled(self, token: str) -> None:
        self.marker.parent.mkdir(parents=True, exist_ok=True)
        self.marker.write_text(secret_hash(token) + "\n")
