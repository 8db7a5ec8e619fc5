"""The fleet benchmark's own logic (gitops_check/fleetbench.py): the fleet it generates, the verdicts and the docs
block. Its timings are `make bench`'s business, never asserted in tests."""

from __future__ import annotations

from pathlib import Path

import yaml

from gitops_check import fleetbench, settings
from gitops_check.fleetbench import Row

REPO = Path(__file__).resolve().parent.parent


def test_the_fleet_is_regional_copies_of_the_template(tmp_path):
    root = fleetbench.make_repo(settings.load(REPO), tmp_path)
    assert not (root / ".git").exists() and (root / "overlays/production/kustomization.yaml").is_file()
    names = fleetbench.make_fleet(root, 3)
    assert names == ["fleet/r001", "fleet/r002", "fleet/r003"]
    made = [yaml.safe_load((root / n / "kustomization.yaml").read_text()) for n in names]
    assert [k["namespace"] for k in made] == ["webhook-service-r001", "webhook-service-r002", "webhook-service-r003"]
    assert [k["nameSuffix"] for k in made] == ["-r001", "-r002", "-r003"]
    assert all(k["resources"] == ["../../overlays/production"] for k in made)
    assert fleetbench.make_fleet(root, 1) == ["fleet/r001"] and not (root / "fleet/r002").exists()


def test_verdicts_name_every_target_and_can_fail():
    good = [Row(1, 0.5, 0.4, 0.1, 0.5, 70, 0), Row(10, 5, 1.5, 0.2, 1, 80, 0), Row(200, 100, 15, 0.5, 1.4, 300, 0)]
    targets = {"speedup": 5, "warm": 1, "memory": 400, "one": 2}
    assert all(met for _, met in fleetbench.verdicts(good, targets))
    slow = good[:2] + [Row(200, 100, 40, 1.5, 2.5, 500, 2)]
    missed = [name for name, met in fleetbench.verdicts(slow, targets) if not met]
    assert len(missed) == 6, missed  # 5x, warm, one changed, memory, errors, linear growth


def test_the_docs_block_is_replaced_and_the_rest_kept(tmp_path):
    doc = tmp_path / "performance.md"
    doc.write_text(f"# Title\n\n{fleetbench.BEGIN}\nold table\n{fleetbench.END}\n\n## After\n")
    rows = [Row(1, 0.44, 0.9, 0.15, 0.87, 70, 0)]
    fleetbench.write_docs(doc, fleetbench.table(rows, 3, [("N=1: faster", False)]))
    text = doc.read_text()
    assert "old table" not in text and "| 1 | 0.44 s | 0.90 s | 0.5x |" in text and "**missed**: N=1: faster" in text
    assert text.startswith("# Title") and text.endswith("## After\n")


def test_the_cpu_time_says_how_fast_a_run_could_ever_be(monkeypatch):
    monkeypatch.setattr(fleetbench.runner, "usable_cores", lambda: 2)
    rows = [Row(1, 0.42, 0.62, 0.12, 0.61, 59, 0, usual_cpu=0.57, cold_cpu=0.88)]
    assert "| 1 | 0.42 s | 0.62 s | 0.7x | 0.57 s / 0.88 s | 0.12 s |" in fleetbench.table(rows, 9)
    faster = fleetbench.verdicts(rows, {"speedup": 5, "warm": 1, "memory": 400, "one": 2})[0]
    assert faster == ("N=1: gitops-check cold faster than the usual script "
                      "(its 0.88 s of CPU time over 2 cores: never under 0.44 s)", False)
