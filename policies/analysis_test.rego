package webhook.analysis_test

import data.lib.fixtures_test as f
import data.webhook.analysis

with_metric(patch) := json.patch(f.template, [{"op": "replace", "path": "/spec/metrics/0", "value": object.union(f.template.spec.metrics[0], patch)}])

with_arg(value) := json.patch(f.template, [{"op": "replace", "path": "/spec/args/1/value", "value": value}])

ids(t) := result if {
	result := f.ids(analysis.deny) | f.ids(analysis.warn) with input as t with data.slo as f.slo
}

latency(conditions) := object.union(
	{"name": "latency-p95", "interval": "1m", "provider": {"prometheus": {"address": "http://p:9090", "query": "histogram_quantile(0.95, x) or vector(0)"}}},
	conditions,
)

test_clean_template_passes if {
	ids(f.template) == set()
}

test_cluster_template_is_checked if {
	t := json.patch(f.template, [{"op": "replace", "path": "/kind", "value": "ClusterAnalysisTemplate"}])
	ids(json.remove(t, ["spec/metrics/0/successCondition", "spec/metrics/0/failureCondition"])) == {"WH-ANA-001", "WH-ANA-006", "WH-ANA-007"}
}

test_success_rate_threshold_from_args if {
	ids(with_arg("0.999")) == set()
	ids(with_arg("0.99")) == {"WH-ANA-002"}
	ids(with_arg(0.9)) == {"WH-ANA-002"}
	ids(with_arg("SET-BY-KUSTOMIZE")) == {"WH-ANA-002"}
}

test_an_arg_named_twice_resolves_to_its_last_value if {
	twice := json.patch(f.template, [{"op": "add", "path": "/spec/args/-", "value": {"name": f.template.spec.args[1].name, "value": "0.5"}}])
	ids(twice) == {"WH-ANA-002"}
	again := json.patch(twice, [{"op": "add", "path": "/spec/args/-", "value": {"name": f.template.spec.args[1].name, "value": "0.999"}}])
	ids(again) == set()
}

test_success_rate_direction if {
	ids(with_metric({"successCondition": "len(result) == 0 || result[0] <= 0.999"})) == {"WH-ANA-002"}
}

test_latency_thresholds if {
	t := json.patch(f.template, [{"op": "replace", "path": "/spec/metrics/0", "value": latency({"successCondition": "result[0] <= 0.5"})}])
	ids(t) == {"WH-ANA-006"}
	loose := json.patch(f.template, [{"op": "replace", "path": "/spec/metrics/0", "value": latency({"failureCondition": "result[0] > 2"})}])
	"WH-ANA-002" in ids(loose)
}

test_error_rate_threshold if {
	strict := latency({"name": "error-rate", "successCondition": "result[0] <= 0.001"})
	ids(json.patch(f.template, [{"op": "replace", "path": "/spec/metrics/0", "value": strict}])) == {"WH-ANA-006"}
	loose := latency({"name": "error-rate", "successCondition": "result[0] < 0.05"})
	"WH-ANA-002" in ids(json.patch(f.template, [{"op": "replace", "path": "/spec/metrics/0", "value": loose}]))
}

test_failure_limit_equal_to_count_can_never_fail if {
	ids(with_metric({"count": 3, "failureLimit": 3})) == {"WH-ANA-003"}
	ids(with_metric({"count": "3", "failureLimit": "3"})) == {"WH-ANA-003"}
	ids(with_metric({"count": "3", "failureLimit": 2})) == set()
}

test_measurement_counts_argo_rollouts_accepts_or_rejects_itself if {
	# neither count nor interval: exactly one measurement (Metric.EffectiveCount), a valid metric
	ids(json.remove(f.template, ["spec/metrics/0/interval"])) == set()
	ids(json.remove(with_metric({"count": 1, "failureLimit": 0}), ["spec/metrics/0/interval"])) == set()

	# count > 1 without interval, failureLimit above count, count 0 (indefinite): Argo Rollouts' findings
	ids(json.remove(with_metric({"count": 3}), ["spec/metrics/0/interval"])) == set()
	ids(with_metric({"count": 3, "failureLimit": 4})) == set()
	ids(with_metric({"count": 0, "failureLimit": 0})) == set()
}

test_prometheus_address if {
	every address in ["", "prometheus:9090", "prometheus-operated.monitoring.svc:9090/", "ftp://prometheus:9090", "http://", "http:///api"] {
		"WH-ANA-004" in ids(with_metric({"provider": {"prometheus": {"address": address}}}))
	}
	every address in ["http://prometheus:9090", "https://prometheus.example.com/api/prom"] {
		not "WH-ANA-004" in ids(with_metric({"provider": {"prometheus": {"address": address}}}))
	}
}

test_credentials_in_the_address_are_left_to_wh_sec_004 if {
	# WH-SEC-004 reports user:password@ in any URL; the address is still an http(s) URL
	every address in ["http://u:p@prometheus:9090", "https://admin:Passw0rd@prometheus.example.com/api/prom"] {
		not "WH-ANA-004" in ids(with_metric({"provider": {"prometheus": {"address": address}}}))
	}
}

test_a_rejected_address_is_shown_without_its_credentials if {
	some d in analysis.deny with input as with_metric({"provider": {"prometheus": {"address": "admin:Passw0rd@prometheus:9090"}}}) with data.slo as f.slo
	d.rule == "WH-ANA-004"
	contains(d.msg, `"***@prometheus:9090"`)
	not contains(d.msg, "Passw0rd")
}

test_empty_query_is_left_to_promtool if {
	# WH-PROM-002 reports an empty or unparseable query
	not "WH-ANA-004" in ids(with_metric({"provider": {"prometheus": {"address": "http://p:9090", "query": " "}}}))
}

test_undeclared_arg_is_left_to_argo_rollouts if {
	# "failed to resolve {{args.threshold}}" is WH-RVAL-004
	ids(with_metric({"successCondition": "len(result) == 0 || result[0] >= {{ args.threshold }}"})) == set()
}

test_empty_result_guard if {
	unguarded := {"successCondition": "result[0] >= 0.999", "failureCondition": "result[0] < 0.999"}
	ids(with_metric(unguarded)) == {"WH-ANA-006", "WH-ANA-007"}
}

test_a_job_metric_is_judged_by_its_job_not_by_conditions if {
	job := {"name": "load", "provider": {"job": {"spec": {"template": {"spec": {"containers": [{"name": "l", "image": "i"}], "restartPolicy": "Never"}}}}}}
	t := json.patch(f.template, [{"op": "add", "path": "/spec/metrics/-", "value": job}])
	ids(t) == set()
	not analysis.judged_by_condition(job)
}

test_unused_arg_is_an_error if {
	t := json.patch(f.template, [{"op": "add", "path": "/spec/args/-", "value": {"name": "window", "value": "2m"}}])
	{r.rule | some r in analysis.deny} == {"WH-ANA-006"} with input as t with data.slo as f.slo
	count(analysis.warn) == 0 with input as t with data.slo as f.slo
}

test_a_query_that_ignores_every_arg_is_an_error if {
	ignoring := json.patch(f.template, [{"op": "replace", "path": "/spec/metrics/0/provider/prometheus/query", "value": "sum(rate(ok[2m])) / sum(rate(all[2m]))"}])
	msgs := {r.msg | some r in analysis.deny; r.rule == "WH-ANA-006"} with input as ignoring with data.slo as f.slo
	msgs == {
		"arg \"canary-service\" is declared but no metric uses it: remove it from spec.args or use it",
		"metric \"success-rate\": its Prometheus query uses none of the template's args (canary-service, success-rate-min), so it measures the same thing for every Rollout: select the canary in the query with the args (e.g. destination_service_name=\"{{args.canary-service}}\")",
	}

	# every arg used by the conditions, none by the query: still the same query for every Rollout
	threshold_only := json.patch(ignoring, [{"op": "replace", "path": "/spec/args", "value": [{"name": "success-rate-min", "value": "0.995"}]}])
	ids(threshold_only) == {"WH-ANA-006"}

	# no args at all: nothing to ignore
	ids(json.remove(ignoring, ["spec/args"])) == set()
}

test_a_query_using_one_of_its_args_is_clean if {
	ids(f.template) == set()
	ns := json.patch(f.template, [
		{"op": "add", "path": "/spec/args/-", "value": {"name": "namespace"}},
		{"op": "replace", "path": "/spec/metrics/0/provider/prometheus/query", "value": "sum(rate(ok{ns=\"{{ args.namespace }}\", service=\"{{args.canary-service}}\"}[2m])) / sum(rate(all[2m]))"},
	])
	ids(ns) == set()
}
