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
	f.ids(probes.deny) == {"WH-PROBE-004"} with input as r # 30 s default < 20 s drain + 30 s longest request
	count(probes.deny) == 0 with input as r with data.params.shutdown as drain_only
	f.ids(probes.deny) == {"WH-PROBE-004"} with input as with_lifecycle({"preStop": {"exec": {"command": ["sleep", "60"]}}})
}

with_grace(seconds) := json.patch(f.rollout, [{"op": "replace", "path": "/spec/template/spec/terminationGracePeriodSeconds", "value": seconds}])

# The grace period judged against the drain alone: what the exec sleep tests read.
drain_only := {"minDrainSeconds": 0, "longestRequestSeconds": 0}

test_grace_period_covers_the_drain_and_the_longest_request if {
	# f.rollout: a 15 s sleep action; params: the longest request is 30 s
	some d in probes.deny with input as with_grace(44)
	d.rule == "WH-PROBE-004"
	contains(d.msg, "set it to at least 45")
	count(probes.deny) == 0 with input as with_grace(45)
	count(probes.deny) == 0 with input as with_grace(16) with data.params.shutdown as drain_only
	f.ids(probes.deny) == {"WH-PROBE-004"} with input as with_grace(15) with data.params.shutdown as drain_only
}

test_a_drain_shorter_than_the_minimum_fires if {
	some d in probes.deny with input as with_lifecycle({"preStop": {"sleep": {"seconds": 1}}})
	d.rule == "WH-PROBE-003"
	contains(d.msg, "minDrainSeconds (5s)")
	"WH-PROBE-003" in f.ids(probes.deny) with input as with_lifecycle({"preStop": {"exec": {"command": ["sleep", "2"]}}})
	not "WH-PROBE-003" in f.ids(probes.deny) with input as with_lifecycle({"preStop": {"sleep": {"seconds": 5}}})

	# an exec hook that sleeps nothing drains some other way: its length is unknown
	not "WH-PROBE-003" in f.ids(probes.deny) with input as with_lifecycle({"preStop": {"exec": {"command": ["/bin/drain"]}}})
}

exec_sleep(command) := json.remove(with_lifecycle({"preStop": {"exec": {"command": ["/bin/sh", "-c", command]}}}), ["spec/template/spec/terminationGracePeriodSeconds"])

test_exec_sleep_reads_units_and_fractions_as_sleep_does if {
	# against the default grace period of 30 s
	every command in ["sleep 1m", "sleep 0.5m", "sleep 30s", "sleep 20 10", "sleep 29.5 && sleep 1", "sleep 1d"] {
		f.ids(probes.deny) == {"WH-PROBE-004"} with input as exec_sleep(command) with data.params.shutdown as drain_only
	}
	every command in ["sleep 29", "sleep 0.5", "sleep .4m && true", "sleep 5. ; nginx -s quit", "sleep infinity-x"] {
		count(probes.deny) == 0 with input as exec_sleep(command) with data.params.shutdown as drain_only
	}
}

test_exec_sleep_sums_to_the_drain if {
	exec_sleep_seconds(["sh", "-c", "sleep 1m 30 && sleep 0.5"]) == 90.5
	exec_sleep_seconds(["sleep", "2h"]) == 7200
	exec_sleep_seconds(["sh", "-c", "echo bye"]) == 0
}
