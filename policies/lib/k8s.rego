# Shared helpers: the pod specs and containers of any workload kind, the environment an object
# belongs to, and PDB amounts. Rules never look for pod specs themselves, so a new workload kind is
# supported by changing pod_specs only. (No Rego rule reads a quantity or a Go duration: the API server
# and Argo Rollouts judge those, and the references stage reads durations as Argo Rollouts does.)
package lib.k8s

# Kinds whose pod template sits at spec.template.spec.
template_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "Rollout"}

# Kinds that run forever and serve traffic: they need probes and a graceful drain (Jobs do not).
long_running_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Rollout"}

# The pod spec(s) of the input, whatever its kind (a Rollout with workloadRef has none: the
# referenced Deployment is checked on its own).
pod_specs contains input.spec.template.spec if input.kind in template_kinds

pod_specs contains input.spec.jobTemplate.spec.template.spec if input.kind == "CronJob"

pod_specs contains input.spec if input.kind == "Pod"

pod_specs contains input.template.spec if input.kind == "PodTemplate"

long_running if input.kind in long_running_kinds

container_fields := {"initContainers": "init container", "containers": "container", "ephemeralContainers": "ephemeral container"}

# Every container of every pod spec (init, regular and ephemeral), with its pod spec for pod-level
# defaults, the field it sits in and a label for messages ("container \"web\"").
containers contains {"spec": spec, "container": c, "field": field, "what": sprintf("%s %q", [label, c.name])} if {
	some spec in pod_specs
	some field, label in container_fields
	some c in spec[field]
}

# The regular containers only: the ones that serve traffic and get probes.
app_containers contains x if {
	some x in containers
	x.field == "containers"
}

# A securityContext field as the kubelet applies it: the container's value wins over the pod's.
effective(x, key) := object.get(
	object.get(x.container, "securityContext", {}), key,
	object.get(object.get(x.spec, "securityContext", {}), key, null),
)

# The environment an object is judged for; unknown or missing means the strictest, production.
default environment := "production"

environment := input.metadata.labels.environment if input.metadata.labels.environment in {"staging", "production"}

env_params := data.params.environments[environment]

# A percentage or count as used by PDBs: "25%" -> {"percent": 25}, 1 -> {"count": 1}.
amount(v) := {"count": v} if is_number(v)

amount(v) := {"percent": to_number(trim_suffix(v, "%"))} if {
	is_string(v)
	endswith(v, "%")
}

amount(v) := {"count": to_number(v)} if {
	is_string(v)
	regex.match(`^[0-9]+$`, v)
}

# Every string anywhere in x with its path, for scans that must not miss a field.
strings(x) := {[path, s] | walk(x, [path, s]); is_string(s)}

# A path as messages show it: ["spec", "template", 0] -> "spec.template[0]".
path_text(path) := concat("", [part |
	some i, p in path
	part := segment(i, p)
])

segment(_, p) := sprintf("[%d]", [p]) if is_number(p)

segment(i, p) := p if {
	is_string(p)
	i == 0
}

segment(i, p) := sprintf(".%s", [p]) if {
	is_string(p)
	i > 0
}
