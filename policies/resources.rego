# Resource requests and limits. Requests drive scheduling and HPA utilisation; limits keep one pod
# from starving its neighbours. Whether a quantity parses and a request stays within its limit is the
# API server's check (and Argo Rollouts' for a Rollout's template), not repeated here.
package webhook.resources

import data.lib.k8s

# Ephemeral containers cannot set resources; init containers and sidecars can and must.
sized contains x if {
	some x in k8s.containers
	x.field != "ephemeralContainers"
}

# METADATA
# title: CPU and memory requests and limits are set on every container
# description: Without requests the scheduler overpacks nodes and the HPA cannot compute utilisation; without limits one leaking pod can take a node down. (Malformed quantities and requests above limits are rejected by the API server and Argo Rollouts.)
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
