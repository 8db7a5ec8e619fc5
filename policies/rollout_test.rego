package webhook.rollout_test

import data.lib.fixtures_test as f
import data.webhook.rollout

with_steps(steps) := json.patch(f.rollout, [{"op": "replace", "path": "/spec/strategy/canary/steps", "value": steps}])

ids(r) := result if {
	result := f.ids(rollout.deny) with input as r with data.slo as f.slo
}

test_clean_rollout_passes if {
	ids(f.rollout) == set()
}

test_steps_need_not_end_at_100 if {
	# after the last step Argo Rollouts promotes by itself
	ids(with_steps([{"setWeight": 5}, {"pause": {"duration": "1m"}}, {"setWeight": 50}, {"pause": {"duration": "1m"}}])) == set()
}

test_first_weight_is_capped_by_the_slo if {
	ids(with_steps([{"setWeight": 20}, {"pause": {"duration": "1m"}}])) == {"WH-ROLL-001"}
	ids(with_steps([{"pause": {"duration": "1m"}}])) == {"WH-ROLL-001"}
}

test_weights_grow_within_range if {
	ids(with_steps([{"setWeight": 10}, {"setWeight": 5}])) == {"WH-ROLL-002"}
	ids(with_steps([{"setWeight": 10}, {"setWeight": 120}])) == {"WH-ROLL-002"}
}

test_indefinite_pause_fires if {
	ids(with_steps([{"setWeight": 10}, {"pause": {}}])) == {"WH-ROLL-003"}
}

test_inline_analysis_counts_as_analysis if {
	r := json.remove(with_steps([{"setWeight": 10}, {"analysis": {"templates": [{"templateName": "t"}]}}]), ["spec/strategy/canary/analysis"])
	ids(r) == set()
	ids(json.remove(f.rollout, ["spec/strategy/canary/analysis"])) == {"WH-ROLL-004"}
}

test_budget_sums_pauses_of_every_unit if {
	# 10m + 300s + 1h30m... 5m + 1m = 16m > 15m
	ids(with_steps([{"setWeight": 10}, {"pause": {"duration": "10m"}}, {"pause": {"duration": 300}}, {"pause": {"duration": "60"}}])) == {"WH-ROLL-005"}
	ids(with_steps([{"setWeight": 10}, {"pause": {"duration": "10m"}}, {"pause": {"duration": "5m"}}])) == set()
}

test_progress_deadline if {
	ids(json.remove(f.rollout, ["spec/progressDeadlineAbort"])) == {"WH-ROLL-006"}
	ids(json.remove(f.rollout, ["spec/progressDeadlineSeconds"])) == {"WH-ROLL-006"}
}

test_one_action_per_step if {
	ids(with_steps([{"setWeight": 10, "pause": {"duration": "1m"}}])) == {"WH-ROLL-007"}
	ids(with_steps([{"setWeight": 10}, {}])) == {"WH-ROLL-007"}
}

test_services_and_routing if {
	ids(json.patch(f.rollout, [{"op": "replace", "path": "/spec/strategy/canary/canaryService", "value": "webhook-service"}])) == {"WH-ROLL-008"}
	ids(json.remove(f.rollout, ["spec/strategy/canary/trafficRouting"])) == {"WH-ROLL-009"}
}

test_blue_green if {
	bg := json.patch(f.rollout, [{"op": "replace", "path": "/spec/strategy", "value": {"blueGreen": {"activeService": "a", "autoPromotionSeconds": 60}}}])
	ids(bg) == {"WH-ROLL-010"}
	manual := json.patch(bg, [{"op": "add", "path": "/spec/strategy/blueGreen/autoPromotionEnabled", "value": false}])
	ids(manual) == set()
	gated := json.patch(bg, [{"op": "add", "path": "/spec/strategy/blueGreen/prePromotionAnalysis", "value": {"templates": [{"templateName": "t"}]}}])
	ids(gated) == set()
	slow := json.patch(gated, [{"op": "replace", "path": "/spec/strategy/blueGreen/autoPromotionSeconds", "value": 1000}])
	ids(slow) == {"WH-ROLL-005"}
}

test_workload_ref_xor_template if {
	ref := {"apiVersion": "apps/v1", "kind": "Deployment", "name": "webhook-service"}
	ids(json.patch(f.rollout, [{"op": "add", "path": "/spec/workloadRef", "value": ref}])) == {"WH-ROLL-011"}
	only_ref := json.patch(json.remove(f.rollout, ["spec/template"]), [{"op": "add", "path": "/spec/workloadRef", "value": ref}])
	ids(only_ref) == set()
	ids(json.remove(f.rollout, ["spec/template"])) == {"WH-ROLL-011"}
}

test_empty_analysis_templates_fire if {
	ids(json.patch(f.rollout, [{"op": "replace", "path": "/spec/strategy/canary/analysis/templates", "value": []}])) == {"WH-ROLL-004"}
	no_background := json.remove(with_steps([{"setWeight": 10}, {"analysis": {"templates": []}}]), ["spec/strategy/canary/analysis"])
	ids(no_background) == {"WH-ROLL-004"}
}

test_background_analysis_must_start_by_the_first_weight if {
	late := json.patch(f.rollout, [{"op": "add", "path": "/spec/strategy/canary/analysis/startingStep", "value": 2}])
	ids(late) == {"WH-ROLL-004"}

	# starting at the first setWeight (after setup steps) is fine
	setup := [{"setCanaryScale": {"weight": 10}}, {"pause": {"duration": "1m"}}, {"setWeight": 10}, {"pause": {"duration": "1m"}}]
	ids(json.patch(with_steps(setup), [{"op": "add", "path": "/spec/strategy/canary/analysis/startingStep", "value": 2}])) == set()

	# an inline analysis step before the first setWeight covers it
	inline_first := [{"analysis": {"templates": [{"templateName": "t"}]}}, {"setWeight": 10}, {"pause": {"duration": "1m"}}]
	ids(json.patch(with_steps(inline_first), [{"op": "add", "path": "/spec/strategy/canary/analysis/startingStep", "value": 2}])) == set()
}

test_unparseable_pause_duration_fires if {
	ids(with_steps([{"setWeight": 10}, {"pause": {"duration": "2 minutes"}}])) == {"WH-ROLL-003"}
	ids(with_steps([{"setWeight": 10}, {"pause": {"duration": "2min"}}])) == {"WH-ROLL-003"}
	ids(with_steps([{"setWeight": 10}, {"pause": {"duration": -5}}])) == {"WH-ROLL-003"}
	ids(with_steps([{"setWeight": 10}, {"pause": {"duration": "90"}}, {"pause": {"duration": 30}}, {"pause": {"duration": "1m30s"}}])) == set()
}

test_budget_says_when_durations_do_not_parse if {
	r := with_steps([{"setWeight": 10}, {"pause": {"duration": "20m"}}, {"pause": {"duration": "2 minutes"}}])
	ids(r) == {"WH-ROLL-003", "WH-ROLL-005"}
	some result in rollout.deny with input as r with data.slo as f.slo
	result.rule == "WH-ROLL-005"
	contains(result.msg, "1 durations do not parse")
}
