package webhook.probes_test

import data.lib.fixtures_test as f
import data.webhook.probes
import data.webhook.probes.exec_sleep_seconds

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

test_missing_prestop_fires if {
	r := json.remove(f.rollout, ["spec/template/spec/containers/0/lifecycle"])
	"WH-PROBE-003" in f.ids(probes.deny) with input as r
}

test_grace_period_must_outlast_native_sleep if {
	r := json.patch(f.rollout, [{"op": "replace", "path": "/spec/template/spec/terminationGracePeriodSeconds", "value": 15}])
	f.ids(probes.deny) == {"WH-PROBE-004"} with input as r
}

test_native_sleep_longer_than_grace_is_left_to_the_api_server if {
	# validateSleepAction (API server, and Argo Rollouts for a Rollout) rejects sleep > grace
	r := json.patch(f.rollout, [{"op": "replace", "path": "/spec/template/spec/terminationGracePeriodSeconds", "value": 10}])
	count(probes.deny) == 0 with input as r
}

test_grace_period_default_against_exec_sleep if {
	exec := {"preStop": {"exec": {"command": ["/bin/sh", "-c", "sleep 20 && kill -TERM 1"]}}}
	r := json.remove(with_lifecycle(exec), ["spec/template/spec/terminationGracePeriodSeconds"])
	count(probes.deny) == 0 with input as r
	f.ids(probes.deny) == {"WH-PROBE-004"} with input as with_lifecycle({"preStop": {"exec": {"command": ["sleep", "60"]}}})
}

exec_sleep(command) := json.remove(with_lifecycle({"preStop": {"exec": {"command": ["/bin/sh", "-c", command]}}}), ["spec/template/spec/terminationGracePeriodSeconds"])

test_exec_sleep_reads_units_and_fractions_as_sleep_does if {
	# against the default grace period of 30 s
	every command in ["sleep 1m", "sleep 0.5m", "sleep 30s", "sleep 20 10", "sleep 29.5 && sleep 1", "sleep 1d"] {
		f.ids(probes.deny) == {"WH-PROBE-004"} with input as exec_sleep(command)
	}
	every command in ["sleep 29", "sleep 0.5", "sleep .4m && true", "sleep 5. ; nginx -s quit", "sleep infinity-x"] {
		count(probes.deny) == 0 with input as exec_sleep(command)
	}
}

test_exec_sleep_sums_to_the_drain if {
	exec_sleep_seconds(["sh", "-c", "sleep 1m 30 && sleep 0.5"]) == 90.5
	exec_sleep_seconds(["sleep", "2h"]) == 7200
	exec_sleep_seconds(["sh", "-c", "echo bye"]) == 0
}
