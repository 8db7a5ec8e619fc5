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

test_invalid_quantity_fires if {
	"WH-RES-001" in f.ids(resources.deny) with input as with_resources({"requests": {"cpu": "lots", "memory": "1Gi"}, "limits": {"cpu": 1, "memory": "1Gi"}})
}

test_quantities_compare_across_units if {
	# 1 cpu = 1000m and 1Gi = 1024Mi: equal is fine, 1.5G is more than 1Gi
	count(resources.deny) == 0 with input as with_resources({"requests": {"cpu": "1000m", "memory": "1024Mi"}, "limits": {"cpu": 1, "memory": "1Gi"}})
	"WH-RES-002" in f.ids(resources.deny) with input as with_resources({"requests": {"cpu": "0.5", "memory": "1.5G"}, "limits": {"cpu": "500m", "memory": "1Gi"}})
	"WH-RES-002" in f.ids(resources.deny) with input as with_resources({"requests": {"cpu": "1.5", "memory": "1k"}, "limits": {"cpu": "1200m", "memory": "1Ki"}})
}
