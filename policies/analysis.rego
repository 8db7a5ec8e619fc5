# AnalysisTemplate and ClusterAnalysisTemplate semantics: every metric can decide, decides at least as
# strictly as the SLO (data.slo), can fail at all, reaches Prometheus safely and uses every arg it
# declares. What Argo Rollouts rejects on its own (an {{args.X}} it cannot resolve, count > 1 without
# interval, limits above count) is its finding in the rollouts stage (WH-RVAL-004), not repeated here.
#
# Threshold heuristic (WH-ANA-002): a metric is classified by its name, else its query:
#   success rate  - "success" or "availab"          -> threshold >= successRateMin
#   error rate    - "error" or "fail"                -> threshold <= 1 - successRateMin
#   latency       - "latency", "duration" or "p9x"   -> threshold <= latencyP95MaxSeconds
# Every comparison `result OP T` / `result[0] OP T` in the success and failure conditions is judged;
# T is a literal number or {{args.NAME}} resolved from the template's own args value. An arg without
# value (passed by the Rollout) cannot be judged here. The operator must point the right way: a
# success condition on a success rate uses > or >=, on latency and error rate < or <=; a failure
# condition the reverse. Unclassified metrics are not judged.
package webhook.analysis

is_template if input.kind in {"AnalysisTemplate", "ClusterAnalysisTemplate"}

metrics contains m if {
	is_template
	some m in input.spec.metrics
}

arg_ref := `\{\{\s*args\.([A-Za-z0-9_.-]+?)\s*\}\}`

declared_args := {a.name | is_template; some a in input.spec.args}

used_args := {m[1] | is_template; some m in regex.find_all_string_submatch_n(arg_ref, json.marshal(input.spec.metrics), -1)}

conditions(m) := {field: m[field] | some field in ["successCondition", "failureCondition"]; is_string(m[field])}

# A job metric's measurement is the Job's outcome (Argo Rollouts ignores conditions on it); every other
# provider returns a value that only a condition judges.
judged_by_condition(m) if not m.provider.job

# METADATA
# title: Every metric that returns a value has a success or failure condition
# description: A metric without conditions never fails; the analysis passes whatever the canary does. (A job metric succeeds or fails with its Job.)
# custom:
#   id: WH-ANA-001
#   severity: error
deny contains {"rule": "WH-ANA-001", "msg": msg} if {
	some m in metrics
	judged_by_condition(m)
	count(conditions(m)) == 0
	msg := sprintf("metric %q has neither successCondition nor failureCondition: add one comparing the result with the SLO", [m.name])
}

# METADATA
# title: Analysis thresholds are at least as strict as the SLO
# description: A canary judged by a looser threshold than the SLO is promoted while it breaks the SLO; thresholds must come from base/slo.yaml.
# custom:
#   id: WH-ANA-002
#   severity: error
deny contains {"rule": "WH-ANA-002", "msg": msg} if {
	some m in metrics
	class := metric_class(m)
	some field, cond in conditions(m)
	some c in comparisons(cond)
	value := threshold(c.value)
	is_number(value)
	not strict_enough(class, value)
	msg := sprintf("metric %q %s compares with %v, looser than the SLO (%s): use the value from base/slo.yaml", [m.name, field, value, slo_text(class)])
}

deny contains {"rule": "WH-ANA-002", "msg": msg} if {
	some m in metrics
	class := metric_class(m)
	some field, cond in conditions(m)
	some c in comparisons(cond)
	not c.op in directions[class][field]
	msg := sprintf("metric %q %s uses result %s for a %s metric, the wrong direction: use %s", [m.name, field, c.op, class, concat(" or ", sort(directions[class][field]))])
}

deny contains {"rule": "WH-ANA-002", "msg": msg} if {
	some m in metrics
	metric_class(m)
	some field, cond in conditions(m)
	some c in comparisons(cond)
	value := threshold(c.value)
	not is_number(value)
	msg := sprintf("metric %q %s compares with %s = %q, not a number: set the arg value from base/slo.yaml (kustomize replacements)", [m.name, field, c.value, value])
}

# Which comparison operators make sense per class and condition.
directions := {
	"success": {"successCondition": {">=", ">"}, "failureCondition": {"<", "<="}},
	"error": {"successCondition": {"<=", "<"}, "failureCondition": {">", ">="}},
	"latency": {"successCondition": {"<=", "<"}, "failureCondition": {">", ">="}},
}

class_patterns := [
	["success", `(?i)success|availab`],
	["error", `(?i)error|fail`],
	["latency", `(?i)latency|duration|p9[0-9]`],
]

# The class of the first pattern that matches the name, else the first that matches the query.
metric_class(m) := name_class[0] if {
	name_class := [class | some [class, pattern] in class_patterns; regex.match(pattern, m.name)]
	count(name_class) > 0
} else := query_class[0] if {
	query_class := [class | some [class, pattern] in class_patterns; regex.match(pattern, object.get(m, ["provider", "prometheus", "query"], ""))]
	count(query_class) > 0
}

comparisons(cond) := [{"op": x[1], "value": x[2]} |
	some x in regex.find_all_string_submatch_n(`\bresult(?:\[0\])?\s*(>=|<=|>|<)\s*([0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|\{\{\s*args\.[A-Za-z0-9_.-]+?\s*\}\})`, cond, -1)
]

threshold(text) := to_number(text) if not startswith(text, "{{")

# {{args.NAME}} -> the number of the template's own arg value, or the raw string when it is not one. An arg named
# twice resolves to the last value, as Argo Rollouts' ResolveArgs map keeps it (one value: two made this function
# conflict, and the conflict failed the evaluation of every document of the run).
threshold(text) := v if {
	startswith(text, "{{")
	name := regex.find_all_string_submatch_n(arg_ref, text, 1)[0][1]
	values := [a.value | some a in input.spec.args; a.name == name; "value" in object.keys(a)]
	count(values) > 0
	v := number_or_text(values[count(values) - 1])
}

number_or_text(raw) := raw if is_number(raw)

number_or_text(raw) := to_number(raw) if {
	is_string(raw)
	regex.match(`^\s*[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\s*$`, raw)
}

number_or_text(raw) := raw if {
	is_string(raw)
	not regex.match(`^\s*[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\s*$`, raw)
}

strict_enough("success", value) if value >= data.slo.successRateMin

strict_enough("error", value) if value <= 1 - data.slo.successRateMin

strict_enough("latency", value) if value <= data.slo.latencyP95MaxSeconds

slo_text("success") := sprintf("successRateMin %v", [data.slo.successRateMin])

slo_text("error") := sprintf("error rate at most 1 - successRateMin = %v", [1 - data.slo.successRateMin])

slo_text("latency") := sprintf("latencyP95MaxSeconds %v", [data.slo.latencyP95MaxSeconds])

# METADATA
# title: A metric's failureLimit is below its count
# description: With failureLimit equal to count every measurement may fail and the analysis still passes, so the metric can never fail the canary. (count > 1 without interval and failureLimit above count are Argo Rollouts' own check.)
# custom:
#   id: WH-ANA-003
#   severity: error
deny contains {"rule": "WH-ANA-003", "msg": msg} if {
	some m in metrics
	measurements := count_value(m)
	measurements > 0
	limit := number_or_text(object.get(m, "failureLimit", 0))
	limit == measurements
	msg := sprintf("metric %q has failureLimit %v with count %v, so it can never fail: set failureLimit below count", [m.name, limit, measurements])
}

# A helper like this one keeps a possibly undefined value out of `not`: OPA evaluates the arguments
# of a negated call outside the negation, so `not f(undefined)` is never true.
count_value(m) := v if {
	v := number_or_text(m.count)
	is_number(v)
}

# METADATA
# title: Prometheus is reached over an http(s) URL
# description: A missing or malformed address errors every measurement. (Credentials in the address are WH-SEC-004's finding; an empty or unparseable query is WH-PROM-002's.)
# custom:
#   id: WH-ANA-004
#   severity: error
deny contains {"rule": "WH-ANA-004", "msg": msg} if {
	some m in metrics
	prometheus := m.provider.prometheus
	address := object.get(prometheus, "address", "")
	not regex.match(`^https?://[^/\s]+(/\S*)?$`, address)
	shown := regex.replace(address, `[^/@\s]*@`, "***@") # never echo a user:password@ part, with or without a scheme
	msg := sprintf("metric %q prometheus address %q is not an http(s) URL: use e.g. http://prometheus-operated.monitoring.svc.cluster.local:9090", [m.name, shown])
}

# METADATA
# title: Every declared arg is used, and every Prometheus query uses the template's args
# description: An unused arg is usually a renamed one whose old name the metrics still miss, or dead configuration the Rollout must keep passing; a query that ignores its args measures the same thing for every Rollout, not the canary it is meant to judge.
# custom:
#   id: WH-ANA-006
#   severity: error
deny contains {"rule": "WH-ANA-006", "msg": msg} if {
	some name in (declared_args - used_args)
	msg := sprintf("arg %q is declared but no metric uses it: remove it from spec.args or use it", [name])
}

deny contains {"rule": "WH-ANA-006", "msg": msg} if {
	count(declared_args) > 0
	some m in metrics
	query := m.provider.prometheus.query
	is_string(query)
	count({x[1] | some x in regex.find_all_string_submatch_n(arg_ref, query, -1)} & declared_args) == 0
	msg := sprintf("metric %q: its Prometheus query uses none of the template's args (%s), so it measures the same thing for every Rollout: select the canary in the query with the args (e.g. destination_service_name=\"{{args.canary-service}}\")", [m.name, concat(", ", sort(declared_args))])
}

# METADATA
# title: Prometheus metrics handle an empty result
# description: Before the canary gets traffic the query returns no sample (or NaN); without a guard the measurement errors or is inconclusive and the rollout stalls or aborts for no reason.
# custom:
#   id: WH-ANA-007
#   severity: warning
warn contains {"rule": "WH-ANA-007", "msg": msg} if {
	some m in metrics
	query := m.provider.prometheus.query
	not regex.match(`or\s+vector\s*\(`, query)
	not guarded(m)
	msg := sprintf("metric %q does not handle an empty result: guard the condition with len(result) == 0 || isNaN(result[0]) || ..., or end the query with `or vector(1)`", [m.name])
}

guarded(m) if {
	some cond in conditions(m)
	regex.match(`len\(result\)\s*==\s*0|isNaN\(`, cond)
}
