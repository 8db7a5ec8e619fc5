package webhook.availability_test

import data.lib.fixtures_test as f
import data.webhook.availability

pdb(spec) := {"kind": "PodDisruptionBudget", "metadata": f.meta("x"), "spec": spec}

test_hpa_minimum_is_left_to_the_references_stage if {
	# WH-REF-008 judges the replica floor (an HPA's minReplicas or spec.replicas) per environment
	hpa := {"kind": "HorizontalPodAutoscaler", "metadata": f.meta("x"), "spec": {"minReplicas": 1, "maxReplicas": 10}}
	count(availability.deny) == 0 with input as hpa with data.params as f.params
}

test_pdb_without_budget_fires if {
	f.ids(availability.deny) == {"WH-AVAIL-003"} with input as pdb({})
	f.ids(availability.deny) == {"WH-AVAIL-003"} with input as pdb({"selector": {"matchLabels": {"app.kubernetes.io/name": "webhook-service"}}})
}

test_pdb_with_a_budget_passes if {
	every spec in [{"maxUnavailable": 1}, {"minAvailable": "50%"}] {
		count(availability.deny) == 0 with input as pdb(spec)
	}
}

test_pdb_blocking_every_eviction_is_left_to_the_references_stage if {
	# WH-REF-009 judges these against the replicas the workload can really drop to
	every spec in [{"maxUnavailable": 0}, {"maxUnavailable": "0%"}, {"minAvailable": "100%"}] {
		count(availability.deny) == 0 with input as pdb(spec)
	}
}

test_spread_required_for_multi_replica_only if {
	r := json.remove(f.rollout, ["spec/template/spec/topologySpreadConstraints"])
	"WH-AVAIL-004" in f.ids(availability.deny) with input as r
	single := json.patch(r, [{"op": "add", "path": "/spec/replicas", "value": 1}])
	count(availability.deny) == 0 with input as single
	anti := json.patch(r, [{"op": "add", "path": "/spec/template/spec/affinity", "value": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": {"topologyKey": "topology.kubernetes.io/zone"}}]}}}])
	count(availability.deny) == 0 with input as anti
}

spread_with(selector) := json.patch(f.rollout, [{"op": "replace", "path": "/spec/template/spec/topologySpreadConstraints", "value": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": selector}]}])

test_spread_selector_must_match_the_pods if {
	count(availability.deny) == 0 with input as spread_with({"matchLabels": {"app.kubernetes.io/name": "webhook-service"}})
	count(availability.deny) == 0 with input as spread_with({"matchExpressions": [
		{"key": "app.kubernetes.io/name", "operator": "In", "values": ["webhook-service"]},
		{"key": "app.kubernetes.io/part-of", "operator": "Exists"},
		{"key": "canary", "operator": "DoesNotExist"},
		{"key": "environment", "operator": "NotIn", "values": ["dev"]},
	]})
	f.ids(availability.deny) == {"WH-AVAIL-004"} with input as spread_with({"matchLabels": {"app": "webhook"}})
	f.ids(availability.deny) == {"WH-AVAIL-004"} with input as spread_with({"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "NotIn", "values": ["webhook-service"]}]})
	f.ids(availability.deny) == {"WH-AVAIL-004"} with input as spread_with({"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "DoesNotExist"}]})
	f.ids(availability.deny) == {"WH-AVAIL-004"} with input as json.remove(spread_with({}), ["spec/template/spec/topologySpreadConstraints/0/labelSelector"])
}

hpa(behavior) := {"kind": "HorizontalPodAutoscaler", "metadata": f.meta("webhook-service"), "spec": {
	"scaleTargetRef": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "webhook-service"},
	"minReplicas": 3, "maxReplicas": 20, "behavior": behavior,
}}

test_hpa_with_scale_up_disabled_fires if {
	f.ids(availability.deny) == {"WH-AVAIL-005"} with input as hpa({"scaleUp": {"selectPolicy": "Disabled"}})
	staging := json.patch(hpa({"scaleUp": {"selectPolicy": "Disabled", "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}]}}), [{"op": "replace", "path": "/metadata/labels/environment", "value": "staging"}])
	f.ids(availability.deny) == {"WH-AVAIL-005"} with input as staging
	some r in availability.deny with input as hpa({"scaleUp": {"selectPolicy": "Disabled"}})
	contains(r.msg, "never scales webhook-service out under load: remove selectPolicy")
}

test_hpa_that_may_scale_up_passes if {
	every behavior in [
		{},
		{"scaleUp": {"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}},
		{"scaleUp": {"selectPolicy": "Min", "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}]}},
		{"scaleUp": {"stabilizationWindowSeconds": 0}},
		# never scaling in is a legitimate choice
		{"scaleDown": {"selectPolicy": "Disabled"}},
	] {
		count(availability.deny) == 0 with input as hpa(behavior)
	}
}

hpa_replicas(min, max) := json.patch(hpa({}), [{"op": "replace", "path": "/spec/minReplicas", "value": min}, {"op": "replace", "path": "/spec/maxReplicas", "value": max}])

test_production_hpa_without_room_to_scale_out_fires if {
	# the API server refuses maxReplicas below minReplicas, not equal to it (validateHorizontalPodAutoscalerSpec)
	every spec in [[3, 3], [20, 20]] {
		f.ids(availability.deny) == {"WH-AVAIL-005"} with input as hpa_replicas(spec[0], spec[1])
	}

	# minReplicas defaults to 1; no environment label is judged as production
	f.ids(availability.deny) == {"WH-AVAIL-005"} with input as json.remove(hpa_replicas(1, 1), ["spec/minReplicas"])
	f.ids(availability.deny) == {"WH-AVAIL-005"} with input as json.remove(hpa_replicas(3, 3), ["metadata/labels/environment"])
	{r.msg | some r in availability.deny} == {"spec.maxReplicas is 3, no more than minReplicas 3, so the HPA never scales webhook-service out under load in production: raise maxReplicas above minReplicas (base/hpa.yaml allows 20)"} with input as hpa_replicas(3, 3)
}

test_hpa_with_room_to_scale_out_or_outside_production_passes if {
	every spec in [[3, 4], [3, 20], [2, 5]] {
		count(availability.deny) == 0 with input as hpa_replicas(spec[0], spec[1])
	}
	count(availability.deny) == 0 with input as json.remove(hpa_replicas(1, 2), ["spec/minReplicas"])

	# staging may pin its size (its floor is WH-REF-008's)
	staging := json.patch(hpa_replicas(2, 2), [{"op": "replace", "path": "/metadata/labels/environment", "value": "staging"}])
	count(availability.deny) == 0 with input as staging
}
