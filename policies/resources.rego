# Resource requests and limits. Requests drive scheduling and HPA utilisation; limits keep one pod
# from starving its neighbours. Quantities are compared as numbers (200m, 0.5, 256Mi, 1Gi, 1G...).
package webhook.resources

import data.lib.k8s

# Ephemeral containers cannot set resources; init containers and sidecars can and must.
sized contains x if {
	some x in k8s.containers
	x.field != "ephemeralContainers"
}

# METADATA
# title: CPU and memory requests and limits are set
# description: Without requests the scheduler overpacks nodes and the HPA cannot compute utilisation; without limits one leaking pod can take a node down.
# custom:
#   id: WH-RES-001
#   severity: error
deny contains {"rule": "WH-RES-001", "msg": msg} if {
	some x in sized
	some kind in ["requests", "limits"]
	some resource in ["cpu", "memory"]
	object.get(x.container, ["resources", kind, resource], null) == null
	msg := sprintf("%s sets no resources.%s.%s: set it (e.g. requests cpu 200m / memory 256Mi, limits cpu 500m / memory 512Mi)", [x.what, kind, resource])
}

deny contains {"rule": "WH-RES-001", "msg": msg} if {
	some x in sized
	some kind in ["requests", "limits"]
	some resource in ["cpu", "memory"]
	value := x.container.resources[kind][resource]
	not k8s.quantity(value)
	msg := sprintf("%s resources.%s.%s is %v, not a Kubernetes quantity: use e.g. 500m, 1, 256Mi or 1Gi", [x.what, kind, resource, value])
}

# METADATA
# title: Requests do not exceed limits
# description: The API server rejects a pod whose request is above its limit, so the rollout stalls at sync time.
# custom:
#   id: WH-RES-002
#   severity: error
deny contains {"rule": "WH-RES-002", "msg": msg} if {
	some x in sized
	some resource in ["cpu", "memory"]
	request := x.container.resources.requests[resource]
	limit := x.container.resources.limits[resource]
	k8s.quantity(request) > k8s.quantity(limit)
	msg := sprintf("%s requests %v %s but is limited to %v: lower the request or raise the limit", [x.what, request, resource, limit])
}
