# Pod security at the Pod Security Standards `restricted` level, for every kind that carries a pod
# template (lib.k8s.pod_specs), plus service-account token automount. The namespace enforces
# `restricted` too, but admission only rejects pods at sync time, after the merge; these rules move
# the failure before the merge and name the field to fix.
package webhook.pod

import data.lib.k8s

# Volume types the restricted profile allows; anything else (hostPath, nfs, iscsi...) reaches the node.
restricted_volume_types := {
	"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
	"persistentVolumeClaim", "projected", "secret",
}

allowed_seccomp := {"RuntimeDefault", "Localhost"}

# METADATA
# title: Containers run as non-root
# description: A process running as UID 0 owns the container filesystem and is one kernel bug away from the node; restricted requires runAsNonRoot.
# custom:
#   id: WH-POD-001
#   severity: error
deny contains {"rule": "WH-POD-001", "msg": msg} if {
	some x in k8s.containers
	k8s.effective(x, "runAsNonRoot") != true
	msg := sprintf("%s may run as root: set securityContext.runAsNonRoot: true on the pod or the container", [x.what])
}

deny contains {"rule": "WH-POD-001", "msg": msg} if {
	some x in k8s.containers
	k8s.effective(x, "runAsUser") == 0
	msg := sprintf("%s runs as UID 0: set securityContext.runAsUser to a non-zero UID (e.g. 1000)", [x.what])
}

# METADATA
# title: Privilege escalation is disabled
# description: Without allowPrivilegeEscalation false a setuid binary can gain more privileges than the container started with.
# custom:
#   id: WH-POD-002
#   severity: error
deny contains {"rule": "WH-POD-002", "msg": msg} if {
	some x in k8s.containers
	object.get(x.container, ["securityContext", "allowPrivilegeEscalation"], null) != false
	msg := sprintf("%s allows privilege escalation: set securityContext.allowPrivilegeEscalation: false", [x.what])
}

# METADATA
# title: Capabilities drop ALL and add at most NET_BIND_SERVICE
# description: Default capabilities (NET_RAW, CHOWN, SETUID...) widen the attack surface; restricted requires dropping ALL.
# custom:
#   id: WH-POD-003
#   severity: error
deny contains {"rule": "WH-POD-003", "msg": msg} if {
	some x in k8s.containers
	not "ALL" in object.get(x.container, ["securityContext", "capabilities", "drop"], [])
	msg := sprintf("%s keeps the default capabilities: set securityContext.capabilities.drop: [ALL]", [x.what])
}

deny contains {"rule": "WH-POD-003", "msg": msg} if {
	some x in k8s.containers
	some cap in object.get(x.container, ["securityContext", "capabilities", "add"], [])
	not cap in data.params.allowedCapabilities
	msg := sprintf("%s adds capability %s: remove it from securityContext.capabilities.add (allowed: %s)", [x.what, cap, concat(", ", data.params.allowedCapabilities)])
}

# METADATA
# title: A seccomp profile is set (RuntimeDefault or Localhost)
# description: Without a seccomp profile every syscall is allowed; restricted requires RuntimeDefault or Localhost on the pod or each container. A disallowed pod-level type (e.g. Unconfined) is reported once for the pod, not again for each container that inherits it.
# custom:
#   id: WH-POD-004
#   severity: error
deny contains {"rule": "WH-POD-004", "msg": msg} if {
	some x in k8s.containers
	type := object.get(x.container, ["securityContext", "seccompProfile", "type"], object.get(x.spec, ["securityContext", "seccompProfile", "type"], null))
	not type in allowed_seccomp
	not inherits_pod_seccomp(x)
	msg := sprintf("%s has no allowed seccomp profile: set securityContext.seccompProfile.type: RuntimeDefault on the pod or the container", [x.what])
}

# The container sets no seccomp type and the pod does: the pod's type applies, and when it is not
# allowed the pod-level clause below reports it once.
inherits_pod_seccomp(x) if {
	not "type" in object.keys(object.get(x.container, ["securityContext", "seccompProfile"], {}))
	"type" in object.keys(object.get(x.spec, ["securityContext", "seccompProfile"], {}))
}

deny contains {"rule": "WH-POD-004", "msg": msg} if {
	some spec in k8s.pod_specs
	type := spec.securityContext.seccompProfile.type
	not type in allowed_seccomp
	msg := sprintf("the pod sets seccompProfile.type %s: use RuntimeDefault (or Localhost)", [type])
}

# METADATA
# title: No privileged containers
# description: A privileged container has every capability and all host devices; it is root on the node.
# custom:
#   id: WH-POD-005
#   severity: error
deny contains {"rule": "WH-POD-005", "msg": msg} if {
	some x in k8s.containers
	x.container.securityContext.privileged == true
	msg := sprintf("%s is privileged: remove securityContext.privileged (or set it to false)", [x.what])
}

# METADATA
# title: No host namespaces
# description: hostNetwork, hostPID and hostIPC let the pod see and talk to every process and socket of the node.
# custom:
#   id: WH-POD-006
#   severity: error
deny contains {"rule": "WH-POD-006", "msg": msg} if {
	some spec in k8s.pod_specs
	some field in ["hostNetwork", "hostPID", "hostIPC"]
	spec[field] == true
	msg := sprintf("the pod sets %s: true; remove it, the pod must stay in its own namespaces", [field])
}

# METADATA
# title: Only volume types allowed by the restricted profile
# description: hostPath and network volume types mount node or storage internals into the pod; restricted allows configMap, secret, emptyDir, projected, downwardAPI, PVC, CSI and ephemeral only.
# custom:
#   id: WH-POD-007
#   severity: error
deny contains {"rule": "WH-POD-007", "msg": msg} if {
	some spec in k8s.pod_specs
	some volume in spec.volumes
	some type, _ in volume
	type != "name"
	not type in restricted_volume_types
	msg := sprintf("volume %q is of type %s, not allowed by the restricted profile: use a configMap, secret, emptyDir, projected or persistentVolumeClaim volume", [volume.name, type])
}

# METADATA
# title: No hostPort
# description: A hostPort binds the node's port, bypasses NetworkPolicies and limits scheduling to one pod per node.
# custom:
#   id: WH-POD-008
#   severity: error
deny contains {"rule": "WH-POD-008", "msg": msg} if {
	some x in k8s.containers
	some port in x.container.ports
	object.get(port, "hostPort", 0) != 0
	msg := sprintf("%s binds hostPort %v: remove hostPort and expose the port through a Service", [x.what, port.hostPort])
}

# METADATA
# title: Read-only root filesystem
# description: A writable root filesystem lets an attacker drop and run tools; write to an emptyDir mounted where the app needs it.
# custom:
#   id: WH-POD-009
#   severity: error
deny contains {"rule": "WH-POD-009", "msg": msg} if {
	some x in k8s.containers
	object.get(x.container, ["securityContext", "readOnlyRootFilesystem"], null) != true
	msg := sprintf("%s has a writable root filesystem: set securityContext.readOnlyRootFilesystem: true and mount an emptyDir where it writes", [x.what])
}

# METADATA
# title: No service-account token is mounted unless needed
# description: A mounted token lets anyone with code execution call the Kubernetes API as the pod; the service does not call the API.
# custom:
#   id: WH-POD-010
#   severity: error
deny contains {"rule": "WH-POD-010", "msg": msg} if {
	input.kind == "ServiceAccount"
	object.get(input, "automountServiceAccountToken", null) != false
	msg := "the ServiceAccount mounts its token into every pod: set automountServiceAccountToken: false (pods that need the API opt in)"
}

deny contains {"rule": "WH-POD-010", "msg": msg} if {
	some spec in k8s.pod_specs
	spec.automountServiceAccountToken == true
	msg := "the pod mounts a service-account token: set automountServiceAccountToken: false unless it calls the Kubernetes API"
}

deny contains {"rule": "WH-POD-010", "msg": msg} if {
	some spec in k8s.pod_specs
	not spec.automountServiceAccountToken == false
	service_account(spec) == "default"
	msg := "the pod runs as the namespace's default ServiceAccount, which mounts a token: set serviceAccountName to a dedicated ServiceAccount or automountServiceAccountToken: false"
}

# The account a pod runs as: serviceAccountName, else the deprecated serviceAccount the API server copies
# into it, else the namespace's default.
service_account(spec) := spec.serviceAccountName if {
	is_string(spec.serviceAccountName)
	spec.serviceAccountName != ""
} else := spec.serviceAccount if {
	is_string(spec.serviceAccount)
	spec.serviceAccount != ""
} else := "default"
