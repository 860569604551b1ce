"""People, their sign-in sessions, which agents are theirs, and the audit log: the part
of the Store seam that the access control (security/access.py) reads and the people admin
writes. Both stores implement it (store/sqlite_accounts.py, store/postgres_accounts.py)
and one contract suite tests both.

Only a hash of a session id is kept: someone who reads the database cannot sign in with
what they find there.
"""

from __future__ import annotations

import getpass
import os
import socket
from dataclasses import dataclass
from typing import Literal, Protocol, get_args

from officepulse.core.categories import Rule
from officepulse.errors import OfficepulseError
from officepulse.store.agents import AgentReads

Role = Literal["admin", "member"]
ROLES: tuple[Role, ...] = get_args(Role)
# What others see of a person: window titles and all ("full"), the app only, or only a
# category (core/categories.py: what the rules make of the app, title and URL).
Visibility = Literal["full", "app", "category"]
VISIBILITIES: tuple[Visibility, ...] = get_args(Visibility)
# New people, and agents nobody owns, show others the app only: titles need the person's
# own say-so.
DEFAULT_VISIBILITY: Visibility = "app"


class AccountError(OfficepulseError, ValueError):
    """A change the accounts cannot make (a login taken, a person who does not exist);
    the message says which, for the person who asked."""


@dataclass(frozen=True, slots=True)
class NewPerson:
    """A person not stored yet (the store gives the id)."""

    login: str
    name: str
    role: Role
    password_hash: str
    visibility: Visibility
    created_ms: int

    def row(self) -> tuple[str, str, Role, str, Visibility, int]:
        """The people table's columns but the id, in their order."""
        return (
            self.login,
            self.name,
            self.role,
            self.password_hash,
            self.visibility,
            self.created_ms,
        )

    def with_id(self, person_id: int) -> Person:
        return Person(*self.row(), id=person_id)


@dataclass(frozen=True, slots=True)
class Person(NewPerson):
    id: int

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True, slots=True)
class PersonChange:
    """What to change of a person; None keeps what is there."""

    name: str | None = None
    role: Role | None = None
    password_hash: str | None = None
    visibility: Visibility | None = None

    def given(self) -> dict[str, str]:
        """column -> new value, for the fields given."""
        fields = (
            ("name", self.name),
            ("role", self.role),
            ("password_hash", self.password_hash),
            ("visibility", self.visibility),
        )
        return {k: v for k, v in fields if v is not None}


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at_ms: int
    # The login of who did it: "" when nobody was signed in, cli_actor() for the CLI.
    actor: str
    action: str
    target: str
    detail: str


def cli_actor() -> str:
    """Who acts from the command line: ``cli:<OS login>@<host>``."""
    try:
        login = getpass.getuser()
    except (OSError, KeyError):  # no name for this uid (Python < 3.13 raises KeyError)
        login = f"uid{os.getuid()}"
    return f"cli:{login}@{socket.gethostname()}"


def agent_action(action: str, erase: bool = False) -> str:
    """The audit action of a change to an agent (dashboard and CLI name it alike)."""
    return "agent.erase" if action == "remove" and erase else f"agent.{action}"


class Accounts(Protocol):
    async def count_people(self) -> int: ...

    async def add_person(self, person: NewPerson) -> Person:
        """Raises AccountError when the login is taken."""
        ...

    async def person(self, person_id: int) -> Person | None: ...

    async def person_by_login(self, login: str) -> Person | None: ...

    async def people(self) -> list[Person]:
        """Everyone, by login."""
        ...

    async def update_person(self, person_id: int, change: PersonChange) -> None:
        """Change what is given. Raises AccountError for an unknown person, and when the
        change would leave no admin."""
        ...

    async def remove_person(self, person_id: int) -> None:
        """The person, their sessions and their agents' link to them (the agents and their
        activity stay). Raises AccountError for an unknown person or the last admin."""
        ...

    async def assign_agent(self, agent_id: str, person_id: int | None) -> None:
        """The agent belongs to the person from now on (None: to nobody). An agent belongs
        to at most one person. Raises AccountError for an unknown person."""
        ...

    async def agent_owners(self) -> dict[str, int]:
        """agent id -> the id of the person it belongs to."""
        ...

    async def directory_rows(
        self, token_hash: str | None = None, now_ms: int = 0
    ) -> tuple[dict[str, int], list[Person], list[Rule], int | None]:
        """``agent_owners()``, ``people()``, the category rules in force and the id of
        the person whose session has ``token_hash`` (as ``session_person``; None: no
        such session, or no hash given), read in one statement: what every page and API
        request reads (security/access.py), one round trip to PostgreSQL, not four."""
        ...

    async def create_session(
        self, token_hash: str, person_id: int, created_ms: int, expires_ms: int
    ) -> None: ...

    async def session_person(self, token_hash: str, now_ms: int) -> Person | None:
        """Who the session belongs to, if it exists and has not expired."""
        ...

    async def revoke_session(self, token_hash: str) -> None: ...

    async def revoke_sessions(self, person_id: int) -> None:
        """Every session of the person (after a password change or a removal)."""
        ...

    async def add_audit(self, entry: AuditEntry) -> None: ...

    async def audit_log(
        self, *, target: str | None = None, action: str | None = None, limit: int = 500
    ) -> list[AuditEntry]:
        """The newest entries first, of one target and/or action if given."""
        ...

    async def count_audit(self, target: str, action: str, since_ms: int) -> int:
        """How many entries of this target and action are at or after ``since_ms``."""
        ...


class PeopleAdmin(Accounts, AgentReads, Protocol):
    """What the people admin (``officepulse admin``, the people page) reads and changes:
    people and the agents they own."""
