"""Who may do what: the person acting, their role, and the rules that give it.

Roles, each including the one before:

- **viewer**: reads the history and exports it;
- **editor**: saves, and deletes or restores runs of the projects they edit;
- **admin**: everything, the deletion log and backups included.

The rules are the ``[mlprod.access]`` section of ``.streamlit/secrets.toml`` (or of the
TOML file ``MLPROD_ACCESS_FILE`` names). An entry is an email (``ann@team.example``) or a
domain (``@team.example``)::

    [mlprod.access]
    admins = ["lead@team.example"]
    viewers = ["@team.example"]             # anyone of the team may look

    [mlprod.access.editors]                 # who edits which projects ("*": all of them)
    "ann@team.example" = ["*"]
    "bob@team.example" = ["fraud-detection"]

Someone the rules do not name is not let in. With sign-in on and no rules, everyone who
signs in is a viewer (the page says how to grant more). Local processes, the CLI and a
notebook, act as the local operator, an admin, as they always did; so does the dashboard
with sign-in off (it serves this machine only unless the team is let in on purpose).

The saving and store functions take the acting :class:`Person` and refuse with
:class:`~mlprod.errors.NotAllowed`; pages also hide what a person may not do.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mlprod.errors import InvalidInput, NotAllowed

__all__ = ["ALL_PROJECTS", "GRANT_HELP", "AccessRules", "Person", "rules_from"]

Role = Literal["viewer", "editor", "admin"]
ALL_PROJECTS = "*"
_RANK = {"viewer": 0, "editor": 1, "admin": 2}
#: Where a person is sent to get more rights.
GRANT_HELP = (
    "An admin grants roles in the [mlprod.access] section of .streamlit/secrets.toml "
    "(admins, editors per project, viewers)."
)


@dataclass(frozen=True)
class Person:
    """Who acts: a name (the email when signed in), a role, and for an editor the
    projects they edit (``None``: every project).

    >>> bob = Person("bob@team.example", "editor", frozenset({"fraud-detection"}))
    >>> bob.may_save(), bob.may_change({"fraud-detection"}), bob.may_change({"vision"})
    (True, True, False)
    >>> Person("eve@team.example", "viewer").may_save()
    False
    """

    name: str
    role: Role
    projects: frozenset[str] | None = None

    @classmethod
    def local(cls, name: str) -> Person:
        """The local operator (CLI, notebook, a dashboard without sign-in): an admin."""
        return cls(name, "admin")

    def at_least(self, role: Role) -> bool:
        return _RANK[self.role] >= _RANK[role]

    def may_save(self) -> bool:
        return self.at_least("editor")

    def may_change(self, projects: Iterable[str | None]) -> bool:
        """Whether this person may delete or restore runs of these projects (a run with no
        project needs an editor of every project)."""
        if self.role == "admin":
            return True
        if self.role != "editor":
            return False
        return self.projects is None or all(p in self.projects for p in projects)

    def require_save(self) -> None:
        if not self.may_save():
            raise NotAllowed(
                f"{self.name} is a {self.role} here: saving needs the editor role. {GRANT_HELP}"
            )

    def require_change(self, projects: Iterable[str | None]) -> None:
        projects = set(projects)
        if self.may_change(projects):
            return
        if self.role != "editor":
            raise NotAllowed(
                f"{self.name} is a {self.role} here: deleting and restoring runs needs the "
                f"editor role. {GRANT_HELP}"
            )
        outside = sorted(p or "(no project)" for p in projects if p not in (self.projects or ()))
        raise NotAllowed(
            f"{self.name} edits {', '.join(sorted(self.projects or ()))} only; these runs are "
            f"in {', '.join(outside)}. Nothing was changed. {GRANT_HELP}"
        )

    def require_admin(self, what: str) -> None:
        if self.role != "admin":
            raise NotAllowed(f"{what} is for admins; {self.name} is a {self.role}. {GRANT_HELP}")


def _matches(entry: str, email: str) -> bool:
    entry = entry.strip().lower()
    return email == entry or (entry.startswith("@") and email.endswith(entry))


@dataclass(frozen=True)
class AccessRules:
    """The allow-list and roles; :meth:`person` says who someone is here."""

    admins: tuple[str, ...] = ()
    editors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    viewers: tuple[str, ...] = ()
    configured: bool = True

    def person(self, email: str) -> Person | None:
        """The signed-in ``email`` as a :class:`Person`, or ``None`` when the rules do not
        let them in.

        >>> rules = rules_from({"admins": ["lead@team.example"], "viewers": ["@team.example"],
        ...                     "editors": {"bob@team.example": ["fraud-detection"]}})
        >>> rules.person("lead@team.example").role, rules.person("Bob@Team.example").projects
        ('admin', frozenset({'fraud-detection'}))
        >>> rules.person("eve@team.example").role, rules.person("mallory@gmail.com")
        ('viewer', None)
        """
        email = email.strip().lower()
        if not email:
            return None
        if not self.configured:
            return Person(email, "viewer")
        if any(_matches(entry, email) for entry in self.admins):
            return Person(email, "admin")
        edits = [projects for entry, projects in self.editors.items() if _matches(entry, email)]
        if edits:
            names = {p for projects in edits for p in projects}
            return Person(email, "editor", None if ALL_PROJECTS in names else frozenset(names))
        if any(_matches(entry, email) for entry in self.viewers):
            return Person(email, "viewer")
        return None


def _names(section: Mapping[str, object], key: str) -> tuple[str, ...]:
    value = section.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(key, f"[mlprod.access] {key} is a list of emails or @domains.")
    return tuple(value)


def rules_from(section: Mapping[str, object] | None) -> AccessRules:
    """The rules of an ``[mlprod.access]`` section (``None`` or empty: not configured,
    everyone signed in is a viewer)."""
    if not section:
        return AccessRules(configured=False)
    editors = section.get("editors", {})
    if not isinstance(editors, Mapping):
        raise InvalidInput(
            "editors",
            "[mlprod.access.editors] maps an email or @domain to projects: "
            '"ann@team.example" = ["*"].',
        )
    return AccessRules(
        admins=_names(section, "admins"),
        editors={str(who): _names(editors, str(who)) for who in editors},
        viewers=_names(section, "viewers"),
    )


def rules_file(environ: Mapping[str, str] | None = None) -> Mapping[str, object] | None:
    """The ``[mlprod.access]`` section of the file ``MLPROD_ACCESS_FILE`` names, if set."""
    env = os.environ if environ is None else environ
    path = env.get("MLPROD_ACCESS_FILE")
    if not path:
        return None
    with Path(path).expanduser().open("rb") as file:
        found = tomllib.load(file)
    mlprod = found.get("mlprod", {})
    return mlprod.get("access") if isinstance(mlprod, dict) else None
