"""How the agent may reach its server: certificates are always verified on
wss (``ca_file`` adds an authority of the server's own), and plain ws is only
for a server on this computer unless ``allow_insecure`` says otherwise."""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

from officepulse.settings import AgentSettings, SettingsError, env_name, is_loopback


def check_server_url(url: str, allow_insecure: bool) -> str | None:
    """None if the agent may connect to ``url``, else why not."""
    parts = urlsplit(url)
    if parts.scheme == "wss":
        return None
    if parts.scheme != "ws":
        return f"server_url {url!r} must start with ws:// or wss://"
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
