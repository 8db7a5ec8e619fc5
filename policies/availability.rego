# Availability judged on single objects: disruption budgets that say what they protect, spreading
# replicas over nodes and zones, and an autoscaler that may scale out. The replica floor per environment (an HPA's minReplicas or spec.replicas,
# WH-REF-008) and budgets judged against the real replica count (WH-REF-009) need two objects: see the
# references stage.
package webhook.availability

import data.lib.k8s

# METADATA
# title: A PodDisruptionBudget sets maxUnavailable or minAvailable
# description: A PDB with neither field protects nothing. (A budget that blocks every eviction, maxUnavailable 0 or minAvailable at the replica count, is judged against the real replica floor by the references stage, WH-REF-009.)
# custom:
#   id: WH-AVAIL-003
#   severity: error
deny contains {"rule": "WH-AVAIL-003", "msg": msg} if {
	input.kind == "PodDisruptionBudget"
	not "maxUnavailable" in object.keys(input.spec)
	not "minAvailable" in object.keys(input.spec)
	msg := "the PodDisruptionBudget sets neither maxUnavailable nor minAvailable: set maxUnavailable: 1"
}

# METADATA
# title: Multi-replica workloads spread over nodes or zones
# description: Without topology spread (or pod anti-affinity) the scheduler may place every replica on one node, and one node failure takes the service down.
# custom:
#   id: WH-AVAIL-004
#   severity: error
deny contains {"rule": "WH-AVAIL-004", "msg": msg} if {
	input.kind in {"Deployment", "StatefulSet", "ReplicaSet", "Rollout"}
	not single_replica
	some spec in k8s.pod_specs
	not spreads(spec)
	msg := "replicas are not spread: add topologySpreadConstraints on kubernetes.io/hostname and topology.kubernetes.io/zone (or pod anti-affinity)"
}

deny contains {"rule": "WH-AVAIL-004", "msg": msg} if {
	input.kind in {"Deployment", "StatefulSet", "ReplicaSet", "Rollout"}
	not single_replica
	some spec in k8s.pod_specs
	some i, c in spec.topologySpreadConstraints
	not selects_pods(object.get(c, "labelSelector", null))
	msg := sprintf("topologySpreadConstraints[%d] (%s) has a labelSelector that does not match the pod template's labels, so it spreads nothing: select the pods' own labels (e.g. app.kubernetes.io/name)", [i, object.get(c, "topologyKey", "no topologyKey")])
}

single_replica if input.spec.replicas <= 1

pod_labels := object.get(input, ["spec", "template", "metadata", "labels"], {})

# A label selector that selects this workload's pods. A missing selector selects no pod.
selects_pods(selector) if {
	is_object(selector)
	every k, v in object.get(selector, "matchLabels", {}) {
		pod_labels[k] == v
	}
	every e in object.get(selector, "matchExpressions", []) {
		expression_matches(e)
	}
}

expression_matches(e) if {
	e.operator == "In"
	pod_labels[e.key] in e.values
}

expression_matches(e) if {
	e.operator == "NotIn"
	not pod_labels[e.key] in e.values
}

expression_matches(e) if {
	e.operator == "Exists"
	e.key in object.keys(pod_labels)
}

expression_matches(e) if {
	e.operator == "DoesNotExist"
	not e.key in object.keys(pod_labels)
}

spread_keys := {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}

spreads(spec) if {
	some c in spec.topologySpreadConstraints
	c.topologyKey in spread_keys
}

spreads(spec) if {
	some mode in ["requiredDuringSchedulingIgnoredDuringExecution", "preferredDuringSchedulingIgnoredDuringExecution"]
	some term in spec.affinity.podAntiAffinity[mode]
	object.get(term, ["podAffinityTerm", "topologyKey"], object.get(term, "topologyKey", "")) in spread_keys
}

# METADATA
# title: A HorizontalPodAutoscaler may scale up
# description: With spec.behavior.scaleUp.selectPolicy Disabled the HPA never adds a replica (DisabledPolicySelect "disables the scaling in this direction", k8s.io/api autoscaling/v2 types.go), so under load the service stays at its current size and saturates while the replica floor (WH-REF-008) still passes. Judged in every environment, since the HPA comes from base/ and staging rehearses it. A scaleDown policy of Disabled is a legitimate choice and is not reported. In production the HPA must also have room to scale out, maxReplicas above minReplicas (default 1); the API server refuses only maxReplicas below minReplicas (pkg/apis/autoscaling/validation validateHorizontalPodAutoscalerSpec), and staging may pin its size. (A scaling policy of value 0 the API server refuses itself, "must be greater than zero", validateScalingPolicy.)
# custom:
#   id: WH-AVAIL-005
#   severity: error
deny contains {"rule": "WH-AVAIL-005", "msg": msg} if {
	input.kind == "HorizontalPodAutoscaler"
	object.get(input, ["spec", "behavior", "scaleUp", "selectPolicy"], "") == "Disabled"
	msg := sprintf("spec.behavior.scaleUp.selectPolicy is Disabled, so the HPA never scales %s out under load: remove selectPolicy (the default is Max) or set Max", [hpa_target])
}

deny contains {"rule": "WH-AVAIL-005", "msg": msg} if {
	input.kind == "HorizontalPodAutoscaler"
	k8s.environment == "production"
	min_replicas := object.get(input, ["spec", "minReplicas"], 1)
	max_replicas := input.spec.maxReplicas
	is_number(max_replicas)
	max_replicas <= min_replicas
	msg := sprintf("spec.maxReplicas is %v, no more than minReplicas %v, so the HPA never scales %s out under load in production: raise maxReplicas above minReplicas (base/hpa.yaml allows 20)", [max_replicas, min_replicas, hpa_target])
}

hpa_target := object.get(input, ["spec", "scaleTargetRef", "name"], "its target")
