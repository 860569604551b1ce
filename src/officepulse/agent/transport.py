"""How the agent may reach its server: certificates are always verified on
wss (``ca_file`` adds an authority of the server's own), and plain ws is only
for a server on this computer unless ``allow_insecure`` says otherwise."""

from __future__ import annotations

import logging
import ssl
from urllib.parse import urlsplit

import msgspec

from officepulse.settings import AgentSettings, SettingsError, env_name, is_loopback

log = logging.getLogger("officepulse.agent")

WEBSOCKET_SCHEMES = {"http": "ws", "https": "wss"}


def agent_url(url: str) -> tuple[str, str | None]:
    """The websocket URL to use for ``url``, and a note when it is not ``url`` itself.

    People copy the address their browser shows (http://host:8080/agent, or just
    http://host:8080): that is the same server, so its websocket is used (ws://, or wss://
    for https://; /agent when no path is given) rather than refusing it."""
    parts = urlsplit(url)
    scheme = WEBSOCKET_SCHEMES.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        return url, None
    path = parts.path if parts.path not in ("", "/") else "/agent"
    converted = parts._replace(scheme=scheme, path=path).geturl()
    return converted, f"server_url {url} is a web address; connecting to its websocket {converted}"


def with_agent_url(settings: AgentSettings) -> AgentSettings:
    """``settings`` with ``server_url`` as a websocket URL (see ``agent_url``), saying so
    in the log when it was changed."""
    url, note = agent_url(settings.server_url)
    if note is None:
        return settings
    log.info("%s", note)
    return msgspec.structs.replace(settings, server_url=url)


def check_server_url(url: str, allow_insecure: bool) -> str | None:
    """None if the agent may connect to ``url``, else why not."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        return (
            f"--server-url ({env_name('server_url')}) takes the server's agent address, "
            f"like ws://localhost:8080/agent or wss://office.example.com/agent (got {url!r})"
        )
    if parts.scheme == "wss":
        return None
    if allow_insecure or is_loopback(parts.hostname or ""):
        return None
    return (
        f"server_url {url!r} is plain ws:// to another computer: anyone on the way could read "
        f"and change what this agent sends. Use wss:// (the server's tls_cert or --dev-tls), "
        f"or set {env_name('allow_insecure')}=true to accept that risk"
    )


def client_ssl(settings: AgentSettings) -> ssl.SSLContext | None:
    """The context for wss, or None for ws; SettingsError naming what is wrong."""
    refusal = check_server_url(settings.server_url, settings.allow_insecure)
    if refusal is not None:
        raise SettingsError(refusal)
    if urlsplit(settings.server_url).scheme != "wss":
        return None
    try:
        return ssl.create_default_context(cafile=settings.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise SettingsError(
            f"setting {env_name('ca_file')}: cannot use {settings.ca_file} as a certificate "
            f"authority: {exc}"
        ) from exc
