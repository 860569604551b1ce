"""The audit log's actions in words, as the Audit and My account pages show them: the
log keeps short codes (``sign-in.failed``), which people should not have to decode."""

from __future__ import annotations

ACTION_WORDS: dict[str, str] = {
    "sign-in": "Signed in",
    "sign-in.failed": "Failed sign-in",
    "sign-in.refused": "Sign-in refused",
    "sign-out": "Signed out",
    "password.failed": "Wrong current password",
    "person.add": "Person added",
    "person.role": "Role changed",
    "person.visibility": "Visibility changed",
    "person.password": "Password changed",
    "person.remove": "Person removed",
    "agent.assign": "Agent assigned",
    "agent.block": "Agent blocked",
    "agent.unblock": "Agent unblocked",
    "agent.remove": "Agent removed",
    "agent.erase": "Agent removed, history erased",
    "agent.revoke": "Agent credential revoked",
    "token.create": "Enrollment token created",
    "token.revoke": "Enrollment token revoked",
    "categories.set": "Category rules saved",
    "categories.reset": "Category rules reset",
    "categories.add": "Category chosen for an uncategorized app or site",
    "app-name.set": "App renamed",
    "detail.view": "Looked at someone's detail",
}


def action_words(action: str) -> str:
    """``action`` in words; an action this version does not know (written by a newer
    one into a shared database) is shown as its code rather than hidden."""
    return ACTION_WORDS.get(action, action)
