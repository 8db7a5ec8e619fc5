"""Waivers: one rule, one object, one source, a reason and an approver; unused and expired waivers are reported."""

from __future__ import annotations

import datetime as dt

import pytest

from gitops_check import waivers
from gitops_check.errors import InputError
from gitops_check.model import Violation

V = Violation("WH-NET-004", "error", "NetworkPolicy", "webhook-service", "webhook-service", "overlays/production", "allows all")
TODAY = dt.date(2026, 11, 26)


def write(tmp_path, body: str):
    path = tmp_path / "waivers.yaml"
    path.write_text(body)
    return waivers.load(path, "waivers.yaml")


ENTRY = """waivers:
  - rule: WH-NET-004
    kind: NetworkPolicy
    namespace: webhook-service
    name: webhook-service
    source: overlays/production
    reason: destinations are arbitrary HTTPS endpoints
    approved-by: platform-team
"""


def test_a_matching_waiver_marks_the_violation_waived(tmp_path):
    found = waivers.apply([V], write(tmp_path, ENTRY), "waivers.yaml", {"overlays/production"}, TODAY)
    assert len(found) == 1
    assert found[0].waived == "destinations are arbitrary HTTPS endpoints (approved by platform-team)"


def test_a_waiver_for_another_object_is_unused_and_reported(tmp_path):
    other = V.__class__(**{**V.as_dict(), "name": "other"})
    found = waivers.apply([other], write(tmp_path, ENTRY), "waivers.yaml", {"overlays/production"}, TODAY)
    assert [v.rule for v in found] == ["WH-NET-004", "WH-WAIVER-001"]
    assert not found[0].waived
    assert found[1].source == "waivers.yaml:2" and "matches no violation" in found[1].message


def test_a_waiver_for_one_overlay_does_not_waive_the_same_object_in_another(tmp_path):
    """Every overlay renders an object of that name: a waiver written for e2e must not hide production's finding."""
    e2e = ENTRY.replace("source: overlays/production", "source: overlays/e2e")
    found = waivers.apply([V], write(tmp_path, e2e), "waivers.yaml", {"overlays/production", "overlays/e2e"}, TODAY)
    assert [(v.rule, v.source, bool(v.waived)) for v in found] == [
        ("WH-NET-004", "overlays/production", False), ("WH-WAIVER-001", "waivers.yaml:2", False)]


def test_an_expired_waiver_waives_nothing_and_is_an_error(tmp_path):
    found = waivers.apply([V], write(tmp_path, ENTRY + "    expires: 2026-01-31\n"), "waivers.yaml", {"overlays/production"}, TODAY)
    assert [(v.rule, v.severity, bool(v.waived)) for v in found] == [("WH-NET-004", "error", False), ("WH-WAIVER-002", "error", False)]


def test_a_waiver_for_a_source_not_validated_is_not_called_unused(tmp_path):
    scoped = ENTRY.replace("source: overlays/production", "source: overlays/staging")
    assert scoped != ENTRY
    assert waivers.apply([], write(tmp_path, scoped), "waivers.yaml", {"overlays/production"}, TODAY) == []


@pytest.mark.parametrize(
    "body, message",
    [
        ("waivers:\n  - rule: WH-NET-004\n    kind: NetworkPolicy\n    name: x\n    source: overlays/production\n",
         "waivers.yaml:2: waiver is missing reason, approved-by"),
        (ENTRY.replace("    source: overlays/production\n", ""), "waivers.yaml:2: waiver is missing source (every waiver needs"),
        (ENTRY.replace("source: overlays/production", "source: ''"), "waivers.yaml:2: waiver is missing source (every waiver needs"),
        (ENTRY + "    colour: blue\n", "waivers.yaml:2: unknown waiver field(s) colour"),
        (ENTRY + "    expires: soon\n", "waivers.yaml:2: expires must be a date"),
        ("waivers: {}\n", "waivers.yaml: `waivers` must be a list"),
        ("waivers:\n  - rule: a\n    rule: b\n", "waivers.yaml:3: invalid YAML: duplicate key 'rule'"),
    ],
    ids=["missing-reason", "missing-source", "empty-source", "unknown-field", "bad-date", "not-a-list", "duplicate-key"],
)
def test_a_malformed_waivers_file_is_bad_input(tmp_path, body, message):
    with pytest.raises(InputError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        write(tmp_path, body)


def test_the_repository_waivers_file_is_valid():
    from gitops_check import settings

    s = settings.load()
    for w in waivers.load(s.waivers_file, "waivers.yaml"):
        assert w.reason and w.approved_by
