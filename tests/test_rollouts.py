"""The rollouts stage against Argo Rollouts' own validation (rollouts-validate, built at the CRDs' version).

tests/fixtures/rollouts/invalid/ holds one source per upstream check, each derived from Argo Rollouts'
validation code; its header names the upstream function, what is broken and a substring of upstream's
message. Every one must be reported; every file in valid/ (things upstream accepts and a naive linter
might not) must stay clean. All fixtures go to rollouts-validate in one process, each as its own source.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import FIXTURES
from gitops_check import loader, rollouts, settings
from gitops_check.context import Context
from gitops_check.errors import ToolError
from gitops_check.model import Source

ROLLOUTS = FIXTURES / "rollouts"
INVALID = sorted((ROLLOUTS / "invalid").glob("*.yaml"))
VALID = sorted((ROLLOUTS / "valid").glob("*.yaml"))
HEADER = re.compile(r"\A# upstream: (?P<upstream>.+)\n# breaks: (?P<breaks>.+)\n# expect: (?P<expect>.+)\n")


def header(path: Path) -> dict[str, str]:
    m = HEADER.match(path.read_text())
    assert m, f"{path.name}: must start with '# upstream:', '# breaks:' and '# expect:' lines"
    return m.groupdict()


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    """source name -> the rollouts stage's violations, for every fixture, in one run."""
    names = {p: p.relative_to(ROLLOUTS).as_posix() for p in INVALID + VALID}
    sources = [Source(name, "file", loader.read_file(p, name)) for p, name in names.items()]
    found = rollouts.check(sources, Context(settings.load(), tmp_path_factory.mktemp("rollouts")))
    return {s.name: [v for v in found if v.source == s.name] for s in sources}


def test_parity_covers_at_least_40_upstream_checks():
    assert len(INVALID) >= 40
    assert len({header(p)["upstream"] for p in INVALID}) >= 20


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_each_invalid_spec_from_upstream_code_is_reported(judged, path):
    h = header(path)
    found = judged[f"invalid/{path.name}"]
    assert found, f"{path.name} ({h['upstream']}: {h['breaks']}) was not reported"
    assert all(v.rule.startswith("WH-RVAL-") and v.severity == "error" for v in found)
    assert all(v.kind in ("Rollout", "AnalysisTemplate") for v in found)
    assert any(h["expect"] in v.message for v in found), [v.message for v in found]


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_what_upstream_accepts_stays_clean(judged, path):
    assert judged[f"valid/{path.name}"] == []


@pytest.mark.parametrize(
    "fixture, rule, field",
    [
        ("pod-duplicate-container-port-names", "WH-RVAL-001", "spec.template.spec.containers[0].ports[1].name"),
        ("canary-maxsurge-and-maxunavailable-zero", "WH-RVAL-001", "spec.strategy.maxSurge"),
        ("service-not-found", "WH-RVAL-002", "spec.strategy.blueGreen.previewService"),
        ("step-analysis-dry-run-unknown-metric", "WH-RVAL-003", "spec.strategy.canary.steps[2].analysis.templates"),
        ("analysis-template-interval-days", "WH-RVAL-004", "spec.metrics"),
        # refused by the reference validation, so no AnalysisRun is judged: the arg is reported once, not again as
        # the run's error (WH-RVAL-003)
        ("background-analysis-arg-missing-from-rollout-args", "WH-RVAL-001", "spec.strategy.canary.analysis.templates"),
    ],
)
def test_each_rule_has_its_own_fixture(judged, fixture, rule, field):
    found = judged[f"invalid/{fixture}.yaml"]
    assert [v.rule for v in found] == [rule], [(v.rule, v.message) for v in found]
    assert found[0].message.startswith(f"{field}: ") and "(Argo Rollouts " in found[0].message


def test_the_real_overlays_are_clean(rendered, tmp_path):
    sources = [Source(o, "overlay", rendered(o)) for o in ("overlays/production", "overlays/staging",
                                                           "tests/overlays/blue-green", "tests/overlays/header-routing")]
    assert rollouts.check(sources, Context(settings.load(), tmp_path)) == []


def test_one_sources_objects_never_satisfy_anothers(tmp_path):
    rollout = [d for d in loader.read_file(INVALID[0].parent / "service-not-found.yaml") if d.kind == "Rollout"]
    services = loader.read_file(ROLLOUTS / "valid" / "analysis-arg-not-declared-by-template.yaml")
    found = rollouts.check([Source("a", "file", rollout), Source("b", "file", [d for d in services if d.kind == "Service"])],
                           Context(settings.load(), tmp_path))
    assert "WH-RVAL-002" in {v.rule for v in found}


def test_a_tool_that_answers_nothing_is_an_error_not_a_pass(tmp_path):
    silent = tmp_path / "rollouts-validate"
    silent.write_text("#!/bin/sh\ncat >/dev/null\necho '{\"checked\": {}, \"findings\": []}'\n")
    silent.chmod(0o755)
    docs = loader.read_file(INVALID[0])
    with pytest.raises(ToolError, match=r"judged .* but was sent"):
        rollouts.run(str(silent), [Source("x", "file", docs)])
