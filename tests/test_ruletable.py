"""docs/policies.md is the one table of every rule; it must match the rules the code and policies declare."""

from __future__ import annotations

import re

from conftest import REPO
from gitops_check import ruletable, settings


def test_docs_policies_md_matches_the_rules():
    expected = ruletable.markdown(settings.load())
    actual = (REPO / "docs" / "policies.md").read_text()
    assert actual == expected, "docs/policies.md is stale: run `make docs` and commit the result"


def test_every_rule_id_used_in_rego_is_documented_by_metadata():
    documented = {r["id"] for r in ruletable.rows(settings.load())}
    used = set()
    for path in (REPO / "policies").rglob("*.rego"):
        if path.name.endswith("_test.rego"):
            continue
        used |= set(re.findall(r'"(WH-[A-Z]+-\d{3})"', path.read_text()))
    assert used <= documented, f"rule ids emitted without a METADATA block: {sorted(used - documented)}"


def test_rule_ids_are_well_formed_and_have_what_and_why():
    for row in ruletable.rows(settings.load()):
        assert re.fullmatch(r"WH-[A-Z]+-\d{3}", row["id"]), row
        assert row["severity"] in ("error", "warning"), row
        assert row["title"].strip() and row["why"].strip(), row
