"""The one root of every error officepulse raises on purpose, and the errors several
modules share. The others live beside the code that raises them, under this root:

OfficepulseError                       .hint: what a person can do about it (or None)
 ├── ConversationError                 ends an agent's websocket: Error message + close code
 │    ├── ProtocolError                  the peer broke the protocol (codec, session; ingest's
 │    │                                  unknown zone in a hello)
 │    └── Refusal                        well-formed, but the server will not take it: admission
 │                                       (blocked, removed, credential, token), takeover: false,
 │                                       a limit (both in protocol/errors.py)
 ├── SettingsError                     a setting missing or bad; names the key (settings.py)
 │    ├── ConfigError                    the agent's config file; names file, line, key
 │    └── AgentRunning                   another agent runs on this state folder
 │                                       (agent/instance.py)
 ├── FormError                         a form a page sent: a field missing or not one of the
 │    │                                choices (people pages, categories editor)
 │    └── FormErrors                     the agent's settings page: each field and why
 │                                       (agent/settings_form.py)
 ├── CliError                          said to the person at the terminal, status 1 (cli/)
 ├── StoreError
 │    ├── StoreUnavailable               the store cannot be opened (also a RuntimeError)
 │    │    └── SchemaTooNew                its schema is newer than this code (store/migrations.py)
 │    └── StoreRefused                   one write the store can never make (store/failures.py)
 ├── AccountError                      a change the accounts cannot make (store/accounts.py)
 ├── PasswordError                     a new password too short (security/passwords.py)
 ├── TokenOptionError                  an enrollment token option out of range
 │                                     (security/enrollment.py)
 ├── ApiError                          a bad REST request, 400 (panel/api/params.py)
 │    └── UnknownAgent                   an agent never heard of, 404
 ├── AwError                           an ActivityWatch API answer other than 200
 │                                     (activitywatch/model.py; the importer's bad files too)
 ├── PeriodError                       a report range that cannot be reckoned (core/periods.py)
 ├── CategoryError                     a category rule that cannot be used (core/categories.py)
 ├── ProxyHeaderError                  a broken PROXY protocol header (server/proxy_header.py)
 ├── VersionError                      not a PEP 440 version number (versions.py)
 ├── BackupError                       a backup or restore that cannot be done (backup/)
 ├── BusUnreachable                    NATS cannot be reached at start (bus/nats_bus.py)
 └── agent side
      ├── Rejected                       the server refused this agent (agent/link.py)
      │    └── Refused                     for who it is: asking again soon is refused again
      │         └── Outdated                 older than the server admits (4426): update it
      ├── Stalled, Replaced, Throttled   why the link dropped a connection (agent/link.py)
      ├── TryAgainSoon                   a full gateway (4013), with the delay it suggests
      ├── CredentialStoreError           the credential cannot be kept where asked
      ├── KeyringSilent                  the keyring did not answer in time (agent/credential.py)
      ├── InstallError                   the GNOME Shell extension (agent/gnome_setup.py);
      │                                  a browser's native messaging host (browser_install.py)
      ├── MessageError                   a browser extension's message (agent/native_host.py)
      ├── ChannelError                   the local channel from the host (agent/tab_channel.py)
      ├── AutostartError                 the start-at-login entry (agent/autostart.py)
      ├── TrayUnavailable                no tray can be shown here (agent/tray_icon.py)
      ├── SourceUnavailable              this desktop cannot be read (agent/sources/base.py)
      ├── DBusError                      a D-Bus peer answered with an error (sources/_dbus.py)
      ├── IntrospectionError             a plugin could not look (agent/introspect/base.py)
      │    └── AppleScriptError            with osascript's error number
      ├── RuleError                      a privacy rule (agent/privacy.py)
      └── TimelineError                  a scripted timeline file (agent/timeline.py)

Errors that were ``ValueError``s (bad input) or ``RuntimeError``s stay so as well, for the
callers that catch those. ``str(error)`` is what a person reads: the message, then
``; `` and the hint when there is one, so an error shows the same wherever it is printed;
``.hint`` alone is for whoever lays it out apart. tests/test_errors.py checks that every
exception class in the package is under the root and named in this tree.
"""

from __future__ import annotations


class OfficepulseError(Exception):
    """The root: ``except OfficepulseError`` catches every error officepulse means."""

    # What the person reading the error can do about it, when there is something.
    hint: str | None = None

    def __init__(self, *args: object, hint: str | None = None) -> None:
        super().__init__(*args)
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        said = super().__str__()
        return f"{said}; {self.hint}" if self.hint else said


class FormError(OfficepulseError, ValueError):
    """A form a page sent cannot be used as it is (a field missing, a value not one of
    the choices, a row count out of range); the message names the field. The page shows
    it and changes nothing. The rules *in* a form are checked apart (CategoryError)."""


class CliError(OfficepulseError):
    """Said to the person at the terminal; the command exits with status 1."""


class StoreError(OfficepulseError):
    """The store could not do what was asked."""


class StoreUnavailable(StoreError, RuntimeError):
    """The store cannot be opened: the database is away, newer than this officepulse, or
    holds what cannot be used. The message names the database (never its password)."""
