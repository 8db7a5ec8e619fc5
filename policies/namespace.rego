# The Namespace is the last line of defence: admission enforces the restricted Pod Security Standard
# even for objects no policy here has seen, and the environment label drives environment-aware rules.
package webhook.namespace

# METADATA
# title: Namespaces enforce the restricted Pod Security Standard
# description: Without pod-security.kubernetes.io/enforce restricted a privileged pod created by hand or by a compromised controller is admitted.
# custom:
#   id: WH-NS-001
#   severity: error
deny contains {"rule": "WH-NS-001", "msg": msg} if {
	input.kind == "Namespace"
	object.get(input.metadata, ["labels", "pod-security.kubernetes.io/enforce"], "") != "restricted"
	msg := "label pod-security.kubernetes.io/enforce is not restricted: set it to restricted"
}

# METADATA
# title: Namespaces carry an environment label
# description: Environment-aware rules and dashboards select on environment; a namespace without it is judged and routed as production.
# custom:
#   id: WH-NS-002
#   severity: error
deny contains {"rule": "WH-NS-002", "msg": msg} if {
	input.kind == "Namespace"
	not object.get(input.metadata, ["labels", "environment"], "") in {"staging", "production"}
	msg := sprintf("label environment is %q: set it to staging or production", [object.get(input.metadata, ["labels", "environment"], "")])
}
