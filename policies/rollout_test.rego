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

test_weights_never_decrease if {
	ids(with_steps([{"setWeight": 10}, {"setWeight": 5}])) == {"WH-ROLL-002"}
	ids(with_steps([{"setWeight": 10}, {"setWeight": 10}, {"setWeight": 50}])) == set()
}

test_weight_range_is_left_to_argo_rollouts if {
	# with nginx or a plugin, maxTrafficWeight raises the ceiling: 500 of 1000 is valid upstream
	r := json.patch(with_steps([{"setWeight": 10}, {"pause": {"duration": "1m"}}, {"setWeight": 500}]), [{"op": "add", "path": "/spec/strategy/canary/trafficRouting/maxTrafficWeight", "value": 1000}])
	ids(r) == set()
}

test_indefinite_pause_fires if {
	ids(with_steps([{"setWeight": 10}, {"pause": {}}])) == {"WH-ROLL-003"}
}

test_inline_analysis_counts_as_analysis if {
	r := json.remove(with_steps([{"setWeight": 10}, {"analysis": {"templates": [{"templateName": "t"}]}}]), ["spec/strategy/canary/analysis"])
	ids(r) == set()
	ids(json.remove(f.rollout, ["spec/strategy/canary/analysis"])) == {"WH-ROLL-004"}
}

test_progress_deadline if {
	ids(json.remove(f.rollout, ["spec/progressDeadlineAbort"])) == {"WH-ROLL-006"}
	ids(json.remove(f.rollout, ["spec/progressDeadlineSeconds"])) == {"WH-ROLL-006"}
}

test_steps_combining_actions_argo_rollouts_accepts if {
	ids(with_steps([{"setWeight": 10, "setCanaryScale": {"weight": 10}}])) == {"WH-ROLL-007"}
	ids(with_steps([{"setWeight": 10}, {"pause": {"duration": "1m"}, "setHeaderRoute": {"name": "h"}}])) == {"WH-ROLL-007"}
	ids(with_steps([{"setWeight": 10}, {"setMirrorRoute": {"name": "m"}, "plugin": {"name": "p"}}])) == {"WH-ROLL-007"}
}

test_steps_argo_rollouts_rejects_are_left_to_it if {
	# two of setWeight/pause/experiment/analysis, or an empty step: validation.go reports them
	ids(with_steps([{"setWeight": 10, "pause": {"duration": "1m"}}])) == set()
	ids(with_steps([{"setWeight": 10, "pause": {"duration": "1m"}, "setCanaryScale": {"weight": 10}}])) == set()
	ids(with_steps([{"setWeight": 10}, {}])) == set()
}

test_services_and_routing if {
	ids(json.remove(f.rollout, ["spec/strategy/canary/trafficRouting"])) == {"WH-ROLL-009"}
}

test_blue_green if {
	bg := json.patch(f.rollout, [{"op": "replace", "path": "/spec/strategy", "value": {"blueGreen": {"activeService": "a", "autoPromotionSeconds": 60}}}])
	ids(bg) == {"WH-ROLL-010"}
	manual := json.patch(bg, [{"op": "add", "path": "/spec/strategy/blueGreen/autoPromotionEnabled", "value": false}])
	ids(manual) == set()
	gated := json.patch(bg, [{"op": "add", "path": "/spec/strategy/blueGreen/prePromotionAnalysis", "value": {"templates": [{"templateName": "t"}]}}])
	ids(gated) == set()
}

test_workload_ref_with_a_pod_spec_of_its_own if {
	ref := {"apiVersion": "apps/v1", "kind": "Deployment", "name": "webhook-service"}
	with_ref := json.patch(f.rollout, [{"op": "add", "path": "/spec/workloadRef", "value": ref}])

	# an unlabelled template is replaced silently by the controller: ours
	ids(json.remove(with_ref, ["spec/template/metadata"])) == {"WH-ROLL-011"}

	# a labelled template ("template must be empty") and neither template nor workloadRef: Argo Rollouts'
	ids(with_ref) == set()
	ids(json.remove(f.rollout, ["spec/template"])) == set()
	ids(json.remove(with_ref, ["spec/template"])) == set()
}

test_empty_analysis_templates_are_left_to_argo_rollouts if {
	# a run without metrics ends in Error; rollouts-validate reports it, and there is an analysis block
	ids(json.patch(f.rollout, [{"op": "replace", "path": "/spec/strategy/canary/analysis/templates", "value": []}])) == set()
	no_background := json.remove(with_steps([{"setWeight": 10}, {"analysis": {"templates": []}}]), ["spec/strategy/canary/analysis"])
	ids(no_background) == set()
}

test_late_background_analysis_is_left_to_the_timeline if {
	# whether analysis that starts after the first setWeight leaves a weight unguarded is WH-REF-044's finding
	late := json.patch(f.rollout, [{"op": "add", "path": "/spec/strategy/canary/analysis/startingStep", "value": 2}])
	ids(late) == set()
}

test_pause_durations_are_left_to_argo_rollouts if {
	# Go durations Argo Rollouts reads (.5m is 30 s, 5.m 300 s, +120 and -0 are integers, 1μs with a Greek mu)
	every d in [".5m", "5.m", "+120", "-0", "-0.5s", "1μs", "1µs", "90", 30, "1m30s"] {
		ids(with_steps([{"setWeight": 10}, {"pause": {"duration": d}}])) == set()
	}

	# and what it rejects is its finding (WH-RVAL-001), not a second one here
	every d in ["1d", "2 minutes", -5] {
		ids(with_steps([{"setWeight": 10}, {"pause": {"duration": d}}])) == set()
	}
}

dry_run_all := [{"metricName": ".*"}]

test_dry_run_metrics_fire if {
	bg := json.patch(f.rollout, [{"op": "replace", "path": "/spec/strategy", "value": {"blueGreen": {
		"activeService": "a", "autoPromotionSeconds": 60,
		"prePromotionAnalysis": {"templates": [{"templateName": "t"}]},
		"postPromotionAnalysis": {"templates": [{"templateName": "t"}]},
	}}}])
	ids(bg) == set()
	every patch in [
		[{"op": "add", "path": "/spec/strategy/canary/analysis/dryRun", "value": dry_run_all}],
		[{"op": "add", "path": "/spec/strategy/canary/analysis/dryRun", "value": [{"metricName": "success-rate"}]}],
		[{"op": "replace", "path": "/spec/strategy/canary/steps/1", "value": {"analysis": {"templates": [{"templateName": "t"}], "dryRun": dry_run_all}}}],
		[{"op": "replace", "path": "/spec/strategy/canary/steps/1", "value": {"experiment": {"duration": "30s", "templates": [{"name": "c", "specRef": "canary"}], "analyses": [{"name": "a", "templateName": "t"}], "dryRun": dry_run_all}}}],
	] {
		ids(json.patch(f.rollout, patch)) == {"WH-ROLL-012"}
	}
	every field in ["prePromotionAnalysis", "postPromotionAnalysis"] {
		ids(json.patch(bg, [{"op": "add", "path": sprintf("/spec/strategy/blueGreen/%s/dryRun", [field]), "value": dry_run_all}])) == {"WH-ROLL-012"}
	}
}

test_dry_run_in_a_template_fires if {
	ids(f.template) == set()
	ids(json.patch(f.template, [{"op": "add", "path": "/spec/dryRun", "value": dry_run_all}])) == {"WH-ROLL-012"}
}

test_empty_dry_run_and_measurement_retention_pass if {
	ids(json.patch(f.rollout, [{"op": "add", "path": "/spec/strategy/canary/analysis/dryRun", "value": []}])) == set()
	ids(json.patch(f.rollout, [{"op": "add", "path": "/spec/strategy/canary/analysis/measurementRetention", "value": [{"metricName": ".*", "limit": 20}]}])) == set()
}

test_paused_rollout_fires if {
	ids(json.patch(f.rollout, [{"op": "add", "path": "/spec/paused", "value": true}])) == {"WH-ROLL-013"}
	ids(json.patch(f.rollout, [{"op": "add", "path": "/spec/paused", "value": false}])) == set()
}

with_scale_down_delay(r, delay) := json.patch(r, [{"op": "add", "path": "/spec/strategy/canary/scaleDownDelaySeconds", "value": delay}])

in_environment(r, env) := json.patch(r, [{"op": "replace", "path": "/metadata/labels/environment", "value": env}])

test_scale_down_delay_below_the_floor_fires_in_production if {
	every delay in [0, 1, -5] {
		ids(with_scale_down_delay(f.rollout, delay)) == {"WH-ROLL-014"}
	}

	# no environment label is judged as production
	ids(json.remove(with_scale_down_delay(f.rollout, 0), ["metadata/labels/environment"])) == {"WH-ROLL-014"}
	msgs(with_scale_down_delay(f.rollout, 1)) == {"spec.strategy.canary.scaleDownDelaySeconds is 1 (below 2 s in production), so Argo Rollouts scales the previous ReplicaSet down 1 s after switching traffic to the new one, before mesh proxies and the ingress stop routing to it, and their requests fail: remove it (the default is 30) or set it to at least 30"}

	# 0 is no deadline in Argo Rollouts v1.9.1 (replicaset.go addScaleDownDelay adds none, scaleDownDelayHelper then
	# keeps the ReplicaSet): still below the floor, and the message says what really happens
	msgs(with_scale_down_delay(f.rollout, 0)) == {"spec.strategy.canary.scaleDownDelaySeconds is 0 (below 2 s in production): Argo Rollouts v1.9.1 reads it as no scale-down deadline and keeps every previous ReplicaSet running after each release, and were 0 to mean at once (argoproj/argo-rollouts issue 1992) the requests mesh proxies and the ingress still route to them would fail: remove it (the default is 30) or set it to at least 30"}
	some r in rollout.deny with input as with_scale_down_delay(f.rollout, -5) with data.slo as f.slo
	contains(r.msg, "scales the previous ReplicaSet down right after switching traffic")
}

msgs(r) := result if {
	result := {x.msg | some x in rollout.deny} with input as r with data.slo as f.slo
}

with_canary(r, field, value) := json.patch(r, [{"op": "add", "path": sprintf("/spec/strategy/canary/%s", [field]), "value": value}])

blue_green(fields) := json.patch(f.rollout, [{"op": "replace", "path": "/spec/strategy", "value": {"blueGreen": object.union(
	{
		"activeService": "webhook-service", "previewService": "webhook-service-canary",
		"prePromotionAnalysis": {"templates": [{"templateName": "webhook-service-success-rate"}]},
	},
	fields,
)}}])

test_scale_down_delay_revision_limit_below_one_fires_in_production if {
	# rollout/replicaset.go scaleDownDelayHelper: with the limit at 0 no old ReplicaSet gets a scale-down deadline
	# (annotationedRSs < limit never holds) and its desired count is 0 at once (replicaset_test.go
	# TestReconcileOldReplicaSet scales the old ReplicaSet to 0 with the limit at 0)
	every limit in [0, -1] {
		ids(with_canary(f.rollout, "scaleDownDelayRevisionLimit", limit)) == {"WH-ROLL-014"}
		ids(blue_green({"scaleDownDelayRevisionLimit": limit})) == {"WH-ROLL-014"}
	}
	msgs(with_canary(f.rollout, "scaleDownDelayRevisionLimit", 0)) == {"spec.strategy.canary.scaleDownDelayRevisionLimit is 0 (in production), so Argo Rollouts keeps no previous ReplicaSet for scaleDownDelaySeconds and scales it down right after switching traffic to the new one, before mesh proxies and the ingress stop routing to it, and their requests fail: remove it (no limit) or set it to at least 1"}

	# with 30 s of delay the limit still scales the old pods down at once
	ids(with_canary(with_scale_down_delay(f.rollout, 30), "scaleDownDelayRevisionLimit", 0)) == {"WH-ROLL-014"}
}

test_scale_down_delay_revision_limit_passes if {
	every limit in [1, 2, 10] {
		ids(with_canary(f.rollout, "scaleDownDelayRevisionLimit", limit)) == set()
		ids(blue_green({"scaleDownDelayRevisionLimit": limit})) == set()
	}

	# staging has no floor; a canary without trafficRouting never keeps old pods for a delay
	ids(in_environment(with_canary(f.rollout, "scaleDownDelayRevisionLimit", 0), "staging")) == set()
	basic := json.remove(with_canary(f.rollout, "scaleDownDelayRevisionLimit", 0), ["spec/strategy/canary/trafficRouting"])
	not "WH-ROLL-014" in ids(basic)
}

test_blue_green_scale_down_delay_below_the_floor_fires_in_production if {
	every delay in [0, 1, -1] {
		ids(blue_green({"scaleDownDelaySeconds": delay})) == {"WH-ROLL-014"}
	}
	msgs(blue_green({"scaleDownDelaySeconds": 1})) == {"spec.strategy.blueGreen.scaleDownDelaySeconds is 1 (below 2 s in production), so Argo Rollouts scales the previous ReplicaSet down 1 s after switching traffic to the new one, before kube-proxy on every node and the mesh proxies stop routing to it, and their requests fail: remove it (the default is 30) or set it to at least 30"}
}

test_blue_green_scale_down_delay_passes if {
	# unset (30 s), components/blue-green's 30 and tests/overlays/e2e-blue-green's 30 / 15
	ids(blue_green({})) == set()
	every delay in [2, 30, 600] {
		ids(blue_green({"scaleDownDelaySeconds": delay, "abortScaleDownDelaySeconds": delay})) == set()
	}
	ids(in_environment(blue_green({"scaleDownDelaySeconds": 0}), "staging")) == set()
}

test_abort_scale_down_delay_below_the_floor_fires_in_production if {
	# replicaset.go reconcileNewReplicaSet: the aborted canary gets a deadline abortScaleDownDelaySeconds after the
	# stable ReplicaSet is back at full size; a negative value is a deadline already past
	every delay in [1, -1] {
		ids(with_canary(f.rollout, "abortScaleDownDelaySeconds", delay)) == {"WH-ROLL-014"}
		ids(blue_green({"abortScaleDownDelaySeconds": delay, "postPromotionAnalysis": {"templates": [{"templateName": "webhook-service-success-rate"}]}})) == {"WH-ROLL-014"}
	}
	msgs(with_canary(f.rollout, "abortScaleDownDelaySeconds", 1)) == {"spec.strategy.canary.abortScaleDownDelaySeconds is 1 (below 2 s in production), so after an abort Argo Rollouts scales the aborted ReplicaSet down 1 s after the stable one is back at full size, while mesh proxies and the ingress may still route requests to it, and they fail: remove it (the default is 30), set it to at least 30, or set 0 to keep the aborted pods until the next update"}
}

test_abort_scale_down_delay_passes if {
	# 0 never scales the aborted pods down (defaults.go GetAbortScaleDownDelaySecondsOrDefault returns nil)
	every delay in [0, 2, 30] {
		ids(with_canary(f.rollout, "abortScaleDownDelaySeconds", delay)) == set()
	}

	# staging has no floor; a basic canary ignores the field (shouldDelayScaleDownOnAbort)
	ids(in_environment(with_canary(f.rollout, "abortScaleDownDelaySeconds", 1), "staging")) == set()
	basic := json.remove(with_canary(f.rollout, "abortScaleDownDelaySeconds", 1), ["spec/strategy/canary/trafficRouting"])
	not "WH-ROLL-014" in ids(basic)

	# a blue-green abort without postPromotionAnalysis comes before the active Service moves: only preview traffic
	ids(blue_green({"abortScaleDownDelaySeconds": 1})) == set()
}

test_scale_down_delay_passes if {
	# unset (Argo Rollouts' 30 s), the Rollouts' own 30, the end-to-end targets' 30 / 15
	ids(f.rollout) == set()
	every delay in [2, 30, 60] {
		ids(with_scale_down_delay(f.rollout, delay)) == set()
	}

	# staging has no floor (params.environments.staging.minScaleDownDelaySeconds: 0)
	ids(in_environment(with_scale_down_delay(f.rollout, 0), "staging")) == set()

	# without trafficRouting Argo Rollouts itself refuses the field (WH-RVAL); WH-ROLL-009 is about the Services
	basic := json.remove(with_scale_down_delay(f.rollout, 0), ["spec/strategy/canary/trafficRouting"])
	not "WH-ROLL-014" in ids(basic)
}

test_the_floor_comes_from_the_environments_parameters if {
	params := json.patch(data.params, [{"op": "replace", "path": "/environments/production/minScaleDownDelaySeconds", "value": 30}])
	f.ids(rollout.deny) == {"WH-ROLL-014"} with input as with_scale_down_delay(f.rollout, 10) with data.slo as f.slo with data.params as params
	count(rollout.deny) == 0 with input as with_scale_down_delay(f.rollout, 30) with data.slo as f.slo with data.params as params
	f.ids(rollout.deny) == {"WH-ROLL-014"} with input as with_canary(f.rollout, "abortScaleDownDelaySeconds", 10) with data.slo as f.slo with data.params as params
	f.ids(rollout.deny) == {"WH-ROLL-014"} with input as blue_green({"scaleDownDelaySeconds": 10}) with data.slo as f.slo with data.params as params
}
