"""Enrollment, credentials, blocking and removing over real connections: a real server
process (agent_auth = required), the real `officepulse` CLI acting on its database, real
agent processes and a JSON websocket client for exact exchanges. Nothing is mocked."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.enrollment import cli, db, enroll, keyring_password, new_token, say_hello
from tests.support.enrollment import locked as locked
from tests.support.enrollment import secret_service as secret_service
from tests.support.processes import OFFICEPULSE, WAIT, stop, wait_until
from tests.support.servers import ServerProcess, run_agent, start_agent, start_server
from tests.support.session_bus import Bus


def refused(server: ServerProcess, agent_id: str, **extra: str) -> tuple[str, int, str]:
    """(error code, close code, message) of a refused hello."""
    with say_hello(server, agent_id, **extra) as (ws, reply):
        assert reply["type"] == "error", reply
        assert reply["fatal"] is True
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    return reply["code"], closed.value.rcvd.code, reply["message"]


def count(server: ServerProcess, needle: str) -> int:
    return sum(needle in line for line in list(server.log))


# -- the exchange -------------------------------------------------------------------------


def test_an_agent_enrolls_once_and_keeps_its_credential_in_a_private_file(
    locked: ServerProcess, tmp_path: Path
) -> None:
    token = new_token(locked, "--label", "alice's laptop")
    state = tmp_path / "agent-state"
    # The default, auto: with no Secret Service on this session, the file.
    args = ("--source", "none", "--name", "Alice")
    no_bus = {"DBUS_SESSION_BUS_ADDRESS": None}
    agent = start_agent(locked, tmp_path, *args, "--enroll-token", token, **no_bus)
    try:
        locked.wait_for_log("enrolled from")
        wait_until(lambda: locked.get("/api/v1/agents")["agents"][0]["online"], what="online")
        agent.wait_for_log("credential is kept in")
    finally:
        out = stop(agent)
    credential_file = state / "credential"
    assert f"credential is kept in {credential_file} (readable by you only)" in out
    assert stat.S_IMODE(credential_file.stat().st_mode) == 0o600
    credential = credential_file.read_text().strip()
    assert credential.startswith("opac_")
    assert token not in out
    assert credential not in out
    # The server keeps a hash only.
    agent_id = (state / "agent-id").read_text().strip()
    ((stored,),) = db(locked, "SELECT hash FROM agent_credentials WHERE agent_id = ?", agent_id)
    assert stored == hashlib.sha256(credential.encode()).hexdigest()
    assert credential not in locked.database.read_bytes().decode(errors="replace")

    # Started again with the same settings (the token still given): the credential is
    # used, the spent token is not sent again.
    again = start_agent(locked, tmp_path, *args, "--enroll-token", token, **no_bus)
    try:
        locked.wait_for_log(f"agent {agent_id} (Alice", count=2)
    finally:
        out = stop(again)
    assert "enrolled with that token already" in out
    assert count(locked, "refused agent") == 0
    listed = cli(locked, "tokens", "list").stdout
    assert "alice's laptop" in listed
    assert "used up" in listed


def test_asking_for_a_keyring_where_there_is_none_stops_the_agent_with_words(
    locked: ServerProcess, tmp_path: Path
) -> None:
    result = run_agent(
        locked,
        tmp_path,
        *("--source", "none", "--credential-store", "keyring"),
        DBUS_SESSION_BUS_ADDRESS=None,
    )
    assert result.returncode == 1
    assert "credential_store is 'keyring' but there is no usable system keyring" in result.stderr


def test_tokens_are_refused_when_reused_expired_revoked_or_unknown(locked: ServerProcess) -> None:
    once = new_token(locked)
    enroll(locked, "first", once)
    assert refused(locked, "second", enroll=once)[:2] == ("enroll-token-used-up", 4011)

    twice = new_token(locked, "--uses", "2")
    enroll(locked, "a2", twice)
    enroll(locked, "a3", twice)
    assert refused(locked, "a4", enroll=twice)[0] == "enroll-token-used-up"

    unlimited = new_token(locked, "--unlimited")
    for n in range(3):
        enroll(locked, f"u{n}", unlimited)
    token_id = next(
        line.split("\t")[0]
        for line in cli(locked, "tokens", "list").stdout.splitlines()
        if "any number of agents" in line
    )
    assert cli(locked, "tokens", "revoke", token_id).returncode == 0
    code, close, message = refused(locked, "u9", enroll=unlimited)
    assert (code, close) == ("enroll-token-revoked", 4011)
    assert (
        message == "the enrollment token was revoked; ask your team lead for a new enrollment token"
    )

    brief = new_token(locked, "--expires-in-hours", "0.0001")  # 0.36 s
    time.sleep(0.5)
    assert refused(locked, "late", enroll=brief)[0] == "enroll-token-expired"
    assert refused(locked, "guess", enroll="opet_" + "A" * 43)[0] == "enroll-token-unknown"

    bad = cli(locked, "tokens", "create", "--uses", "0")
    assert bad.returncode == 2
    assert "uses is 0; give 1 or more" in bad.stderr
    assert cli(locked, "tokens", "revoke", "nope").returncode == 1


def test_credentials_are_required_checked_and_revocable(locked: ServerProcess) -> None:
    credential = enroll(locked, "alice", new_token(locked))
    assert refused(locked, "alice")[:2] == ("credential-required", 4011)
    assert refused(locked, "alice", token="opac_" + "x" * 43)[0] == "credential-unknown"
    # Another agent's credential is not this one's.
    assert refused(locked, "mallory", token=credential)[0] == "credential-unknown"

    with say_hello(locked, "alice", token=credential) as (ws, reply):
        assert reply["type"] == "welcome"
        assert cli(locked, "agents", "revoke", "alice").returncode == 0
        # Disconnected now, with the reason.
        error = json.loads(ws.recv(timeout=WAIT))
        assert (error["code"], error["fatal"]) == ("credential-revoked", True)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=WAIT)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4011
    code, _, message = refused(locked, "alice", token=credential)
    assert code == "credential-revoked"
    assert (
        message
        == "this agent's credential was revoked; ask your team lead for a new enrollment token"
    )
    # A new token lets it back in, with a new credential.
    renewed = enroll(locked, "alice", new_token(locked))
    assert renewed != credential
    with say_hello(locked, "alice", token=renewed) as (_, reply):
        assert reply["type"] == "welcome"


def test_an_open_server_says_so_and_admits_anyone(tmp_path: Path) -> None:
    srv = start_server(tmp_path)  # loopback: open unless told otherwise
    try:
        srv.wait_for_log("WARNING: agent_auth is open")
        with say_hello(srv, "anyone") as (_, reply):
            assert reply["type"] == "welcome"
    finally:
        srv.stop()
    srv = start_server(tmp_path, "--host", "0.0.0.0")  # beyond loopback: required
    try:
        srv.wait_for_log("agents must be enrolled")
        assert refused(srv, "anyone")[0] == "credential-required"
        # ActivityWatch's watchers cannot enroll: their writes are refused here.
        request = urllib.request.Request(
            srv.url + "/api/0/buckets/aw-watcher-window_x",
            data=json.dumps({"client": "aw-watcher-window", "type": "currentwindow"}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as refusal:
            urllib.request.urlopen(request, timeout=10)
        assert refusal.value.code == 403
        assert "agent_auth = required" in json.loads(refusal.value.read())["message"]
        refusal.value.close()
    finally:
        srv.stop()


# -- blocking -------------------------------------------------------------------------------


def test_a_blocked_agent_is_told_why_retries_slowly_and_an_unblock_lets_it_back(
    locked: ServerProcess, tmp_path: Path
) -> None:
    token = new_token(locked, "--uses", "2")
    common = ("--source", "none", "--credential-store", "file", "--enroll-token", token)
    # Two real agents: one with the default slow retry (300 s), one that tries every second.
    patient = start_agent(locked, tmp_path / "p", *common, "--name", "Pat", "--agent-id", "pat")
    eager = start_agent(
        locked,
        tmp_path / "e",
        *common,
        "--name",
        "Eve",
        "--agent-id",
        "eve",
        "--refused-retry",
        "1",
    )
    try:
        for agent_id in ("pat", "eve"):
            locked.wait_for_log(f"agent {agent_id} (")
        for agent_id in ("pat", "eve"):
            result = cli(locked, "agents", "block", agent_id, "--reason", "on leave")
            assert result.returncode == 0, result.stderr
        for agent_id in ("pat", "eve"):
            locked.wait_for_log(f"disconnecting agent {agent_id}: this agent was blocked")
        for agent in (patient, eager):
            agent.wait_for_log("the server refused this agent")
        listed = cli(locked, "agents", "list").stdout
        assert listed.count("blocked since") == 2
        assert "(on leave)" in listed
        # Eve tries again every second and is refused; Pat does not come back at all
        # (the normal back-off would have tried within a second).
        locked.wait_for_log("refused agent eve", count=2)
        assert count(locked, "refused agent pat") == 0
        # History is kept, and the blocked agents are not on the office's list.
        assert {a["id"]: a["blocked"] for a in locked.get("/api/v1/agents")["agents"]} == {
            "eve": True,
            "pat": True,
        }
        for agent_id in ("pat", "eve"):
            assert cli(locked, "agents", "unblock", agent_id).returncode == 0
        wait_until(
            lambda: {a["id"]: a["online"] for a in locked.get("/api/v1/agents")["agents"]}["eve"],
            what="eve back online",
        )
        assert count(locked, "refused agent pat") == 0
    finally:
        pat_out, eve_out = stop(patient), stop(eager)
    said = "the server refused this agent: this agent was blocked by the team lead: on leave"
    assert said in pat_out
    assert "trying again every 300 s" in pat_out
    assert said in eve_out
    assert eve_out.count(said) == 1  # said once, not at every retry
    assert "blocked" not in cli(locked, "agents", "list").stdout
    assert cli(locked, "agents", "block", "nobody").returncode == 1


def test_an_agent_told_its_credential_was_revoked_says_so_in_words(
    locked: ServerProcess, tmp_path: Path
) -> None:
    token = new_token(locked)
    agent = start_agent(
        locked,
        tmp_path,
        *("--source", "none", "--credential-store", "file", "--agent-id", "rev"),
        *("--enroll-token", token, "--log-level", "debug"),
    )
    try:
        locked.wait_for_log("agent rev (")
        assert cli(locked, "agents", "revoke", "rev").returncode == 0
        locked.wait_for_log("disconnecting agent rev: this agent's credential was revoked")
        # Not the normal back-off, which would try again within a second.
        agent.wait_for_log("reconnecting in 300.0 s")
    finally:
        out = stop(agent)
    assert (
        "the server refused this agent: this agent's credential was revoked; ask your team "
        "lead for a new enrollment token (trying again every 300 s" in out
    )
    assert count(locked, "refused agent rev") == 0


# -- the system keyring -------------------------------------------------------------------


def enroll_once(server: ServerProcess, tmp: Path, agent_id: str, env: dict[str, str | None]) -> str:
    """Enroll an agent with a new token in ``env``; what it printed once it said where it
    keeps its credential."""
    token = new_token(server)
    args = ("--source", "none", "--agent-id", agent_id, "--enroll-token", token)
    agent = start_agent(server, tmp, *args, **env)
    try:
        server.wait_for_log(f"agent {agent_id} (")
        agent.wait_for_log("credential is kept in")
    finally:
        out = stop(agent)
    return out


@pytest.mark.skipif(
    shutil.which("gnome-keyring-daemon") is None or shutil.which("dbus-daemon") is None,
    reason="needs gnome-keyring and dbus (scripts/system-deps installs them)",
)
def test_an_agent_keeps_its_credential_in_the_system_keyring(
    locked: ServerProcess, tmp_path: Path, secret_service: dict[str, str]
) -> None:
    out = enroll_once(locked, tmp_path, "kr", secret_service)
    assert "credential is kept in the system keyring (keyring.backends.SecretService" in out
    assert not (tmp_path / "agent-state" / "credential").exists()
    credential = keyring_password(secret_service, "kr")
    assert credential is not None
    ((stored,),) = db(locked, "SELECT hash FROM agent_credentials WHERE agent_id = 'kr'")
    assert stored == hashlib.sha256(credential.encode()).hexdigest()
    # The next start, without the token, finds it there.
    again = start_agent(locked, tmp_path, "--source", "none", "--agent-id", "kr", **secret_service)
    try:
        locked.wait_for_log("agent kr (", count=2)
    finally:
        stop(again)
    assert count(locked, "refused agent") == 0


# A keyring backend of the person's own (as keyrings.alt or a company's would be): a JSON
# file, named by PYTHON_KEYRING_BACKEND. Priority 1, so keyring recommends it.
FILE_KEYRING = """
import json, os
from pathlib import Path
from keyring.backend import KeyringBackend

class Keyring(KeyringBackend):
    priority = 1

    def _all(self):
        path = Path(os.environ["FILE_KEYRING"])
        return json.loads(path.read_text()) if path.exists() else {}

    def get_password(self, service, username):
        return self._all().get(f"{service}/{username}")

    def set_password(self, service, username, password):
        found = self._all()
        found[f"{service}/{username}"] = password
        Path(os.environ["FILE_KEYRING"]).write_text(json.dumps(found))

    def delete_password(self, service, username):
        raise NotImplementedError
"""


def test_a_keyring_chosen_in_keyrings_own_settings_is_used(
    locked: ServerProcess, tmp_path: Path
) -> None:
    """The agent looks for a Secret Service itself only where the person left keyring to
    choose: a backend named in PYTHON_KEYRING_BACKEND (or keyringrc.cfg) is used, here
    where no session bus exists at all."""
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "file_keyring.py").write_text(FILE_KEYRING)
    store = tmp_path / "keyring.json"
    env = {
        "PYTHONPATH": str(tmp_path / "plugins"),
        "PYTHON_KEYRING_BACKEND": "file_keyring.Keyring",
        "FILE_KEYRING": str(store),
        "DBUS_SESSION_BUS_ADDRESS": None,
    }
    out = enroll_once(locked, tmp_path, "own", env)
    assert "credential is kept in the system keyring (file_keyring.Keyring)" in out
    assert not (tmp_path / "agent-state" / "credential").exists()
    credential = json.loads(store.read_text())["officepulse-agent/own"]
    ((stored,),) = db(locked, "SELECT hash FROM agent_credentials WHERE agent_id = 'own'")
    assert stored == hashlib.sha256(credential.encode()).hexdigest()


# A Secret Service that never answers: it owns the name, so the keyring library finds it
# and asks it, and it replies to nothing -- what gnome-keyring does while it waits for an
# unlock prompt nobody answers (a GNOME session without a login keyring).
SILENT_SECRET_SERVICE = """
import sys
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

conn = open_dbus_connection(bus=sys.argv[1])
conn.send_and_get_reply(message_bus.RequestName("org.freedesktop.secrets"), timeout=30)
print("ready", flush=True)
while True:
    conn.receive()
"""


@pytest.fixture
def silent_secret_service(tmp_path: Path) -> Iterator[dict[str, str]]:
    bus = Bus(tmp_path)
    service = subprocess.Popen(
        [str(Path(OFFICEPULSE).parent / "python"), "-c", SILENT_SECRET_SERVICE, bus.address],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert service.stdout is not None
        assert service.stdout.readline().strip() == "ready"
        # It never answers: the agent waits out keyring_timeout (10 s by default), 1 s here.
        yield {"DBUS_SESSION_BUS_ADDRESS": bus.address, "OFFICEPULSE_KEYRING_TIMEOUT": "1"}
    finally:
        stop(service)
        bus.stop()


@pytest.mark.skipif(shutil.which("dbus-daemon") is None, reason="needs dbus")
def test_a_keyring_that_never_answers_does_not_hold_the_agent_back(
    locked: ServerProcess, tmp_path: Path, silent_secret_service: dict[str, str]
) -> None:
    out = enroll_once(locked, tmp_path, "sk", silent_secret_service)
    assert out.count("the system keyring did not answer within 1 s") == 1, out
    assert "probably waiting for an unlock prompt" in out
    kept = tmp_path / "agent-state" / "credential"
    assert f"credential is kept in {kept} (readable by you only)" in out
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    ((stored,),) = db(locked, "SELECT hash FROM agent_credentials WHERE agent_id = 'sk'")
    assert stored == hashlib.sha256(kept.read_text().strip().encode()).hexdigest()


@pytest.mark.skipif(shutil.which("dbus-daemon") is None, reason="needs dbus")
def test_asking_for_a_keyring_that_never_answers_stops_the_agent_with_words(
    locked: ServerProcess, tmp_path: Path, silent_secret_service: dict[str, str]
) -> None:
    result = run_agent(
        locked,
        tmp_path,
        *("--source", "none", "--credential-store", "keyring"),
        **silent_secret_service,
    )
    assert result.returncode == 1
    assert "the system keyring did not answer within 1 s" in result.stderr
    assert "unlock it, or use 'auto'" in result.stderr
