package webhook.resources_test

import data.lib.fixtures_test as f
import data.webhook.resources

with_resources(r) := json.patch(f.rollout, [{"op": "replace", "path": "/spec/template/spec/containers/0/resources", "value": r}])

test_clean_rollout_passes if {
	count(resources.deny) == 0 with input as f.rollout
}

test_missing_limit_fires if {
	"WH-RES-001" in f.ids(resources.deny) with input as with_resources({"requests": {"cpu": "100m", "memory": "1Gi"}, "limits": {"cpu": 1}})
}

test_values_are_left_to_the_api_server if {
	# a malformed quantity or a request above its limit is the API server's (and Argo Rollouts') finding
	count(resources.deny) == 0 with input as with_resources({"requests": {"cpu": "lots", "memory": "1Gi"}, "limits": {"cpu": 1, "memory": "1Gi"}})
	count(resources.deny) == 0 with input as with_resources({"requests": {"cpu": "0.5", "memory": "1.5G"}, "limits": {"cpu": "500m", "memory": "1Gi"}})
}
