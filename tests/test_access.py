"""Who may do what, checked in the core: the save path and the store refuse a person
without the role (or the project), whatever a page shows or hides."""

from __future__ import annotations

import pyarrow as pa
import pytest

from mlprod.access import Person, rules_from
from mlprod.errors import InvalidInput, NotAllowed
from mlprod.saving import save_batch, save_calculation
from tests.conftest import count, recent, record

RULES = rules_from({
    "admins": ["lead@team.example"],
    "viewers": ["@team.example"],
    "editors": {"ann@team.example": ["*"], "bob@team.example": ["fraud-detection"]},
})  # fmt: skip
ANN, BOB = RULES.person("ann@team.example"), RULES.person("bob@team.example")
EVE, LEAD = RULES.person("eve@team.example"), RULES.person("lead@team.example")


def runs(projects: list[str | None]) -> pa.Table:
    n = len(projects)
    return pa.table({
        "run_id": [f"r{i}" for i in range(n)], "model_name": ["m"] * n, "project": projects,
        "f1": [0.9] * n, "training_cost": [1000.0] * n, "inference_cost": [200.0] * n,
        "training_hours": [10.0] * n, "latency_ms": [50.0] * n, "cer": [0.00075] * n,
        "ter": [0.09] * n, "psr": [0.018] * n, "status": ["ok"] * n,
    })  # fmt: skip


def test_roles_from_the_rules():
    assert (ANN.role, ANN.projects) == ("editor", None)
    assert (BOB.role, BOB.projects) == ("editor", frozenset({"fraud-detection"}))
    assert (EVE.role, LEAD.role) == ("viewer", "admin")
    assert RULES.person("mallory@gmail.example") is None  # not on the list: not let in
    assert RULES.person("eve@team.example.evil.example") is None  # a domain is a suffix
    assert rules_from(None).person("anyone@gmail.example").role == "viewer"  # safe default
    with pytest.raises(InvalidInput, match="list of emails"):
        rules_from({"admins": "lead@team.example", "viewers": [3]})


def test_a_viewer_cannot_save_by_any_path(store):
    with pytest.raises(NotAllowed, match="saving needs the editor role"):
        save_calculation(store, record(), calc_key="k", who=EVE)
    with pytest.raises(NotAllowed, match=r"\[mlprod.access\]"):
        save_batch(store, runs(["vision"]), source="batch", who=EVE)
    assert count(store) == 0
    save_batch(store, runs(["vision"]), source="batch", who=ANN, author="someone else")
    assert recent(store).iloc[0].author == "ann@team.example"  # the identity, not a name


def test_an_editor_changes_only_the_projects_they_edit(store):
    save_batch(store, runs(["fraud-detection", "vision", None]), source="batch", again=True)
    ids = sorted(recent(store).id.tolist())
    with pytest.raises(NotAllowed, match="edits fraud-detection only"):
        store.soft_delete(ids[:2], who=BOB)  # one of them is vision's
    assert count(store) == 3  # nothing changed
    with pytest.raises(NotAllowed, match="no project"):
        store.soft_delete([ids[2]], who=BOB)
    with pytest.raises(NotAllowed, match="needs the editor role"):
        store.soft_delete([ids[0]], who=EVE)
    assert store.soft_delete([ids[0]], who=BOB) == [ids[0]]
    assert store.restore([ids[0]], who=BOB) == [ids[0]]
    assert store.soft_delete(ids, who=ANN) == ids  # an editor of every project
    log = store.deletion_log(who=LEAD)
    assert set(log.done_by) == {"bob@team.example", "ann@team.example"}
    with pytest.raises(NotAllowed, match="deletion log is for admins"):
        store.deletion_log(who=ANN)


def test_local_processes_act_as_the_local_operator(store):
    """The CLI and a notebook pass no person: they act as an admin, as they always did."""
    assert Person.local("ci").at_least("admin")
    save_batch(store, runs(["vision"]), source="cli", author="ci")
    assert len(store.soft_delete(recent(store).id.tolist(), by="ci")) == 1
