# PrometheusRule hygiene an on-call engineer depends on: every alert routes by severity, explains
# itself, links a runbook and does not fire on a single blip. What Prometheus itself rejects (a rule
# without expr, PromQL that does not parse, alerting fields on a recording rule) is promtool's finding
# in the promql stage (WH-PROM-001), not repeated here.
package webhook.monitoring

rules contains {"group": g.name, "rule": r} if {
	input.kind == "PrometheusRule"
	some g in input.spec.groups
	some r in g.rules
}

alerts contains x if {
	some x in rules
	x.rule.alert
}

severities := {"critical", "warning", "info"}

# METADATA
# title: Alerts carry a severity label (critical, warning or info)
# description: Alertmanager routes on severity; an alert without one (or with an unknown one) pages nobody or everybody.
# custom:
#   id: WH-MON-001
#   severity: error
deny contains {"rule": "WH-MON-001", "msg": msg} if {
	some x in alerts
	not object.get(x.rule, ["labels", "severity"], "") in severities
	msg := sprintf("%s in group %q has severity %q: set labels.severity to critical, warning or info", [x.rule.alert, x.group, object.get(x.rule, ["labels", "severity"], "")])
}

# METADATA
# title: Alerts have summary, description and an http(s) runbook_url
# description: The person paged at 3 a.m. needs to know what broke and what to do without reading PromQL.
# custom:
#   id: WH-MON-002
#   severity: error
deny contains {"rule": "WH-MON-002", "msg": msg} if {
	some x in alerts
	some annotation in ["summary", "description", "runbook_url"]
	trim_space(object.get(x.rule, ["annotations", annotation], "")) == ""
	msg := sprintf("alert %q in group %q has no %s annotation: add it", [x.rule.alert, x.group, annotation])
}

deny contains {"rule": "WH-MON-002", "msg": msg} if {
	some x in alerts
	url := x.rule.annotations.runbook_url
	not regex.match(`^https?://\S+$`, url)
	msg := sprintf("alert %q runbook_url %q is not an http(s) URL: link the runbook page", [x.rule.alert, url])
}

# METADATA
# title: Alerts wait with `for` before firing
# description: Without `for` one bad scrape or a short spike pages someone; a few minutes of pending filters noise.
# custom:
#   id: WH-MON-003
#   severity: warning
warn contains {"rule": "WH-MON-003", "msg": msg} if {
	some x in alerts
	not x.rule.for
	msg := sprintf("alert %q in group %q has no `for`: set for (e.g. 5m) so a single blip does not page, or for: 0m when one sample is the event itself", [x.rule.alert, x.group])
}
