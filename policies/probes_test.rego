package webhook.probes_test

import data.lib.fixtures_test as f
import data.webhook.probes

with_lifecycle(lifecycle) := json.patch(f.rollout, [{"op": "replace", "path": "/spec/template/spec/containers/0/lifecycle", "value": lifecycle}])

with_container(patch) := json.patch(f.rollout, [{"op": "replace", "path": "/spec/template/spec/containers/0", "value": object.union(f.container, patch)}])

test_clean_rollout_passes if {
	count(probes.deny) == 0 with input as f.rollout
}

test_missing_liveness_fires if {
	r := json.remove(f.rollout, ["spec/template/spec/containers/0/livenessProbe"])
	"WH-PROBE-001" in f.ids(probes.deny) with input as r
}

test_jobs_need_no_probes_or_drain if {
	job := {"kind": "Job", "metadata": f.meta("x"), "spec": {"template": {"spec": object.union(f.pod_spec, {"containers": [{"name": "x", "image": "i"}]})}}}
	count(probes.deny) == 0 with input as job
}

test_probe_ports_named_numeric_and_string if {
	"WH-PROBE-002" in f.ids(probes.deny) with input as with_container({"readinessProbe": {"tcpSocket": {"port": 8081}}})
	"WH-PROBE-002" in f.ids(probes.deny) with input as with_container({"livenessProbe": {"httpGet": {"port": "admin"}}})
	count(probes.deny) == 0 with input as with_container({"readinessProbe": {"httpGet": {"port": "9090"}}})
}

test_missing_prestop_fires if {
	r := json.remove(f.rollout, ["spec/template/spec/containers/0/lifecycle"])
	"WH-PROBE-003" in f.ids(probes.deny) with input as r
}

test_grace_period_must_outlast_native_sleep if {
	r := json.patch(f.rollout, [{"op": "replace", "path": "/spec/template/spec/terminationGracePeriodSeconds", "value": 15}])
	"WH-PROBE-004" in f.ids(probes.deny) with input as r
}

test_grace_period_default_against_exec_sleep if {
	exec := {"preStop": {"exec": {"command": ["/bin/sh", "-c", "sleep 20 && kill -TERM 1"]}}}
	r := json.remove(with_lifecycle(exec), ["spec/template/spec/terminationGracePeriodSeconds"])
	count(probes.deny) == 0 with input as r
	"WH-PROBE-004" in f.ids(probes.deny) with input as with_lifecycle({"preStop": {"exec": {"command": ["sleep", "60"]}}})
}
