package webhook.monitoring_test

import data.lib.fixtures_test as f
import data.webhook.monitoring

alert := {
	"alert": "WebhookServiceDown",
	"expr": "up == 0",
	"for": "5m",
	"labels": {"severity": "critical"},
	"annotations": {"summary": "s", "description": "d", "runbook_url": "https://runbooks.example.com/down"},
}

record := {"record": "job:up:sum", "expr": "sum(up)"}

rule_object(rules) := {"kind": "PrometheusRule", "metadata": f.meta("x"), "spec": {"groups": [{"name": "g", "rules": rules}]}}

ids(rules) := result if {
	result := f.ids(monitoring.deny) | f.ids(monitoring.warn) with input as rule_object(rules)
}

test_clean_rules_pass if {
	ids([alert, record]) == set()
}

test_alert_fields if {
	ids([object.union(alert, {"labels": {"severity": "page"}})]) == {"WH-MON-001"}
	ids([json.remove(alert, ["labels"])]) == {"WH-MON-001"}
	ids([json.remove(alert, ["annotations/summary"])]) == {"WH-MON-002"}
	ids([object.union(alert, {"annotations": {"runbook_url": "see wiki"}})]) == {"WH-MON-002"}
	ids([json.remove(alert, ["for"])]) == {"WH-MON-003"}
	ids([object.union(alert, {"for": "0m"})]) == set()
}

test_what_promtool_rejects_is_left_to_it if {
	# alerting fields on a recording rule, or an empty expr: WH-PROM-001 (promtool check rules)
	ids([object.union(record, {"for": "1m"})]) == set()
	ids([object.union(record, {"expr": ""})]) == set()
}
