"""The deployment analytics (base/analytics-rules.yaml) under promtool's unit tests, as rendered for production.

tests/promql/analytics_test.yaml (minute by minute) and analytics_30d_test.yaml (the 30-day windows, day by day)
feed Argo Rollouts' and Argo CD's metrics, named and labelled as the controllers export them, into the rules
kustomize renders, the way tests/test_promql.py runs alerts_test.yaml.
"""

from __future__ import annotations

import shutil
import subprocess

import yaml

from conftest import REPO
from gitops_check import settings
from gitops_check.context import Context

HERE = REPO / "tests" / "promql"
TESTS = ("analytics_test.yaml", "analytics_30d_test.yaml")
RULE = "webhook-service-deployments"


def test_deployment_analytics_record_as_specified(rendered, find, tmp_path):
    rule = find(rendered("overlays/production"), "PrometheusRule", RULE)
    groups = rule.obj["spec"]["groups"]
    assert {g["name"] for g in groups} == {"webhook-service.deployments.state", "webhook-service.deployments", "webhook-service.argocd"}
    (tmp_path / "rendered-analytics-rules.yaml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    for name in TESTS:
        shutil.copy(HERE / name, tmp_path / name)
    promtool = Context(settings.load(), tmp_path).tool("promtool")
    proc = subprocess.run([promtool, "test", "rules", *TESTS], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("SUCCESS") == len(TESTS), proc.stdout


def test_the_rules_that_keep_state_come_after_the_rules_that_read_it(rendered, find):
    """The release start and the promotion time compare the event counters with the totals recorded at the previous
    evaluation, and the promotion time reads the start of this one: Prometheus evaluates a group's rules in order."""
    rule = find(rendered("overlays/production"), "PrometheusRule", RULE)
    state = next(g for g in rule.obj["spec"]["groups"] if g["name"] == "webhook-service.deployments.state")
    order = [r["record"] for r in state["rules"]]
    started = order.index("webhook_service:rollout_release_started:timestamp")
    promotion = order.index("webhook_service:rollout_time_to_full_promotion:seconds")
    assert started < promotion
    assert promotion < order.index("webhook_service:rollout_updated_events:total")
    assert promotion < order.index("webhook_service:rollout_completed_events:total")
