package webhook.pod_test

import data.lib.fixtures_test as f
import data.webhook.pod

with_container(patch) := json.patch(f.rollout, [{"op": "replace", "path": "/spec/template/spec/containers/0", "value": object.union(f.container, patch)}])

test_clean_rollout_passes if {
	count(pod.deny) == 0 with input as f.rollout with data.params as f.params
}

test_pod_level_non_root_is_inherited_and_container_root_fires if {
	"WH-POD-001" in f.ids(pod.deny) with input as with_container({"securityContext": {"runAsUser": 0}}) with data.params as f.params
}

test_missing_run_as_non_root_fires if {
	r := json.remove(f.rollout, ["spec/template/spec/securityContext/runAsNonRoot"])
	"WH-POD-001" in f.ids(pod.deny) with input as r with data.params as f.params
}

test_privilege_escalation_must_be_explicitly_false if {
	r := json.remove(f.rollout, ["spec/template/spec/containers/0/securityContext/allowPrivilegeEscalation"])
	"WH-POD-002" in f.ids(pod.deny) with input as r with data.params as f.params
}

test_net_bind_service_may_be_added if {
	r := with_container({"securityContext": {"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}})
	not "WH-POD-003" in f.ids(pod.deny) with input as r with data.params as f.params
}

test_other_capabilities_fire if {
	r := with_container({"securityContext": {"capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]}}})
	"WH-POD-003" in f.ids(pod.deny) with input as r with data.params as f.params
}

test_container_seccomp_without_pod_seccomp_passes if {
	r := json.remove(with_container({"securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}}}), ["spec/template/spec/securityContext/seccompProfile"])
	not "WH-POD-004" in f.ids(pod.deny) with input as r with data.params as f.params
}

test_no_seccomp_anywhere_fires if {
	r := json.remove(f.rollout, ["spec/template/spec/securityContext/seccompProfile"])
	"WH-POD-004" in f.ids(pod.deny) with input as r with data.params as f.params
}

pod_seccomp(type) := json.patch(f.rollout, [{"op": "replace", "path": "/spec/template/spec/securityContext/seccompProfile", "value": {"type": type}}])

seccomp_findings(obj) := found if {
	found := {r.msg | some r in pod.deny; r.rule == "WH-POD-004"} with input as obj with data.params as f.params
}

test_pod_unconfined_inherited_by_its_containers_is_one_finding if {
	# pod-level Unconfined, no container overrides it: reported once, for the pod
	findings := seccomp_findings(pod_seccomp("Unconfined"))
	count(findings) == 1
	some m in findings
	contains(m, "the pod sets seccompProfile.type Unconfined")

	# ... also with several containers, an init container among them
	two := json.patch(pod_seccomp("Unconfined"), [
		{"op": "add", "path": "/spec/template/spec/containers/-", "value": object.union(f.container, {"name": "sidecar"})},
		{"op": "add", "path": "/spec/template/spec/initContainers", "value": [object.union(f.container, {"name": "init"})]},
	])
	count(seccomp_findings(two)) == 1
}

test_container_unconfined_is_still_reported if {
	unconfined := {"securityContext": object.union(f.container.securityContext, {"seccompProfile": {"type": "Unconfined"}})}

	# under a RuntimeDefault pod: the container alone
	findings := seccomp_findings(with_container(unconfined))
	count(findings) == 1
	some m in findings
	contains(m, "container \"webhook-service\" has no allowed seccomp profile")

	# under an Unconfined pod: the pod and the container, two findings for two settings
	both := json.patch(with_container(unconfined), [{"op": "replace", "path": "/spec/template/spec/securityContext/seccompProfile", "value": {"type": "Unconfined"}}])
	count(seccomp_findings(both)) == 2
}

test_container_override_of_an_unconfined_pod_still_reports_the_pod if {
	# the pod-level field itself is what restricted forbids
	fixed := json.patch(pod_seccomp("Unconfined"), [{"op": "add", "path": "/spec/template/spec/containers/0/securityContext/seccompProfile", "value": {"type": "RuntimeDefault"}}])
	findings := seccomp_findings(fixed)
	count(findings) == 1
	some m in findings
	contains(m, "the pod sets seccompProfile.type Unconfined")
}

test_no_seccomp_anywhere_fires_per_container if {
	r := json.remove(f.rollout, ["spec/template/spec/securityContext/seccompProfile"])
	findings := seccomp_findings(r)
	count(findings) == 1
	some m in findings
	contains(m, "has no allowed seccomp profile")

	# a seccompProfile without a type on the container inherits nothing from a pod that sets none
	empty := json.patch(r, [{"op": "add", "path": "/spec/template/spec/containers/0/securityContext/seccompProfile", "value": {}}])
	count(seccomp_findings(empty)) == 1
}

test_every_workload_kind_is_checked if {
	bad := object.union(f.pod_spec, {"hostPID": true})
	every kind in ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Rollout"] {
		obj := {"kind": kind, "metadata": f.meta("x"), "spec": {"template": {"spec": bad}}}
		"WH-POD-006" in f.ids(pod.deny) with input as obj with data.params as f.params
	}
}

test_cronjob_and_pod_are_checked if {
	bad := object.union(f.pod_spec, {"hostIPC": true})
	"WH-POD-006" in f.ids(pod.deny) with input as {"kind": "Pod", "metadata": f.meta("x"), "spec": bad} with data.params as f.params
	cron := {"kind": "CronJob", "metadata": f.meta("x"), "spec": {"jobTemplate": {"spec": {"template": {"spec": bad}}}}}
	"WH-POD-006" in f.ids(pod.deny) with input as cron with data.params as f.params
}

test_init_and_ephemeral_containers_are_checked if {
	bad := object.union(f.container, {"name": "debug", "securityContext": {"privileged": true}})
	every field in ["initContainers", "ephemeralContainers"] {
		r := json.patch(f.rollout, [{"op": "add", "path": sprintf("/spec/template/spec/%s", [field]), "value": [bad]}])
		"WH-POD-005" in f.ids(pod.deny) with input as r with data.params as f.params
	}
}

test_host_path_and_host_port_fire if {
	r := json.patch(with_container({"ports": [{"name": "http", "containerPort": 8080, "hostPort": 80}]}), [{"op": "add", "path": "/spec/template/spec/volumes/-", "value": {"name": "h", "hostPath": {"path": "/"}}}])
	{"WH-POD-007", "WH-POD-008"} & f.ids(pod.deny) == {"WH-POD-007", "WH-POD-008"} with input as r with data.params as f.params
}

test_read_only_root_fires if {
	"WH-POD-009" in f.ids(pod.deny) with input as with_container({"securityContext": {"readOnlyRootFilesystem": false}}) with data.params as f.params
}

test_service_account_token if {
	"WH-POD-010" in f.ids(pod.deny) with input as {"kind": "ServiceAccount", "metadata": f.meta("x")}
	count(pod.deny) == 0 with input as {"kind": "ServiceAccount", "metadata": f.meta("x"), "automountServiceAccountToken": false}
	r := json.remove(f.rollout, ["spec/template/spec/serviceAccountName", "spec/template/spec/automountServiceAccountToken"])
	"WH-POD-010" in f.ids(pod.deny) with input as r with data.params as f.params
}

test_the_deprecated_service_account_field_names_the_account if {
	# the API server copies spec.serviceAccount into serviceAccountName: a pod naming its account only there does
	# not run as "default"
	r := json.remove(f.rollout, ["spec/template/spec/serviceAccountName", "spec/template/spec/automountServiceAccountToken"])
	named := json.patch(r, [{"op": "add", "path": "/spec/template/spec/serviceAccount", "value": "webhook-service"}])
	not "WH-POD-010" in f.ids(pod.deny) with input as named with data.params as f.params
	empty := json.patch(r, [{"op": "add", "path": "/spec/template/spec/serviceAccountName", "value": ""}])
	"WH-POD-010" in f.ids(pod.deny) with input as empty with data.params as f.params
}
