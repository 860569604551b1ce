"""The accounts part of the Store contract (store/accounts.py): people, sessions, agents'
owners and the audit log, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import pytest

from officepulse.core.categories import Rule
from officepulse.store.accounts import AccountError, AuditEntry, NewPerson, PersonChange
from officepulse.store.base import AgentInfo, Store
from tests.support.stores import store

pytest_plugins = ["tests.support.postgres"]
__all__ = ["store"]  # the contract suite's fixture: both stores


async def test_people_are_added_found_changed_and_logins_are_unique(store: Store) -> None:
    assert await store.count_people() == 0
    ann = await store.add_person(NewPerson("ann", "Ann", "admin", "h1", "full", 10))
    bob = await store.add_person(NewPerson("bob", "Bob", "member", "h2", "app", 20))
    assert ann.id != bob.id
    assert await store.count_people() == 2
    assert await store.person(bob.id) == bob
    assert await store.person_by_login("ann") == ann
    assert await store.person_by_login("nobody") is None
    assert await store.person(10_000) is None
    assert [p.login for p in await store.people()] == ["ann", "bob"]
    with pytest.raises(AccountError, match="'bob' is taken"):
        await store.add_person(NewPerson("bob", "Other", "member", "h", "full", 30))
    await store.update_person(bob.id, PersonChange(visibility="category", password_hash="h3"))
    changed = await store.person(bob.id)
    assert changed is not None
    assert (changed.visibility, changed.password_hash, changed.name, changed.role) == (
        "category",
        "h3",
        "Bob",
        "member",
    )
    with pytest.raises(AccountError, match="no person"):
        await store.update_person(10_000, PersonChange(name="x"))


async def test_the_last_admin_stays(store: Store) -> None:
    ann = await store.add_person(NewPerson("ann", "Ann", "admin", "h", "full", 0))
    bob = await store.add_person(NewPerson("bob", "Bob", "member", "h", "full", 0))
    with pytest.raises(AccountError, match="last admin"):
        await store.update_person(ann.id, PersonChange(role="member"))
    with pytest.raises(AccountError, match="last admin"):
        await store.remove_person(ann.id)
    await store.update_person(bob.id, PersonChange(role="admin"))
    await store.update_person(ann.id, PersonChange(role="member"))
    await store.remove_person(ann.id)
    assert [p.login for p in await store.people()] == ["bob"]


async def test_agents_belong_to_at_most_one_person(store: Store) -> None:
    ann = await store.add_person(NewPerson("ann", "Ann", "admin", "h", "full", 0))
    bob = await store.add_person(NewPerson("bob", "Bob", "member", "h", "full", 0))
    await store.assign_agent("a1", ann.id)
    await store.assign_agent("a2", ann.id)
    await store.assign_agent("a1", bob.id)
    assert await store.agent_owners() == {"a1": bob.id, "a2": ann.id}
    await store.assign_agent("a2", None)
    assert await store.agent_owners() == {"a1": bob.id}
    with pytest.raises(AccountError, match="no person"):
        await store.assign_agent("a3", 10_000)
    await store.remove_person(bob.id)
    assert await store.agent_owners() == {}


async def test_the_directory_is_owners_people_rules_and_a_session_in_one_read(
    store: Store,
) -> None:
    # What every page and API request reads (security/access.py): the same as the reads
    # one by one, empty tables too.
    assert await store.directory_rows() == ({}, [], await store.categories(), None)
    bob = await store.add_person(NewPerson("bob", "Bob", "member", "h2", "category", 20))
    ann = await store.add_person(NewPerson("ann", 'Ann "A" 😀', "admin", "h1", "full", 10))
    await store.assign_agent("a1", bob.id)
    await store.assign_agent("a2", ann.id)
    rules = [Rule(category="Work > Code", pattern="^code$"), Rule(category="Fun", pattern="café")]
    await store.set_categories(rules, 100)  # the rules now; no spans to re-categorise
    await store.create_session("s1", bob.id, 100, 200)
    owners, people, read_rules, person_id = await store.directory_rows("s1", 199)
    assert owners == await store.agent_owners() == {"a1": bob.id, "a2": ann.id}
    assert people == await store.people() == [ann, bob]  # by login
    assert read_rules == await store.categories() == rules
    assert person_id == bob.id
    # An expired or unknown session is nobody's, as session_person says.
    assert (await store.directory_rows("s1", 200))[3] is None
    assert (await store.directory_rows("nope", 0))[3] is None


@pytest.mark.parametrize("erase", [False, True])
async def test_a_removed_agent_is_nobodys(store: Store, erase: bool) -> None:
    ann = await store.add_person(NewPerson("ann", "Ann", "admin", "h", "full", 0))
    for agent_id in ("a1", "a2"):
        store.save_agent(AgentInfo(agent_id, agent_id, "h", "linux", "1", "UTC", False, 0))
        await store.assign_agent(agent_id, ann.id)
    await store.flush()
    assert await store.remove_agent("a1", erase, 5)
    # The same id enrolling again later belongs to nobody until an admin says so.
    assert await store.agent_owners() == {"a2": ann.id}


async def test_sessions_expire_are_revoked_and_go_with_their_person(store: Store) -> None:
    ann = await store.add_person(NewPerson("ann", "Ann", "admin", "h", "full", 0))
    bob = await store.add_person(NewPerson("bob", "Bob", "member", "h", "full", 0))
    await store.create_session("s1", ann.id, 100, 200)
    await store.create_session("s2", ann.id, 100, 300)
    await store.create_session("s3", bob.id, 100, 300)
    assert await store.session_person("s1", 199) == ann
    assert await store.session_person("s1", 200) is None  # expired
    assert await store.session_person("nope", 0) is None
    await store.revoke_session("s2")
    assert await store.session_person("s2", 150) is None
    await store.create_session("s4", ann.id, 150, 400)
    await store.revoke_sessions(ann.id)
    assert await store.session_person("s4", 160) is None
    assert await store.session_person("s3", 160) == bob
    await store.remove_person(bob.id)
    assert await store.session_person("s3", 160) is None


async def test_the_audit_log_keeps_every_entry_newest_first(store: Store) -> None:
    entries = [
        AuditEntry(1, "", "sign-in.failed", "bob", "wrong password"),
        AuditEntry(2, "bob", "sign-in", "bob", ""),
        AuditEntry(3, "ann", "detail.view", "bob", "GET /api/v1/spans agent=a1"),
        AuditEntry(4, "", "sign-in.failed", "bob", "wrong password"),
    ]
    for entry in entries:
        await store.add_audit(entry)
    assert await store.audit_log() == entries[::-1]
    assert await store.audit_log(target="bob", action="detail.view") == [entries[2]]
    assert await store.audit_log(action="sign-in.failed", limit=1) == [entries[3]]
    assert await store.count_audit("bob", "sign-in.failed", 1) == 2
    assert await store.count_audit("bob", "sign-in.failed", 2) == 1
    assert await store.count_audit("ann", "sign-in.failed", 0) == 0
