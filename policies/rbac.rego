# RBAC: the service needs no Kubernetes API access, so any grant must be narrow, namespaced and never
# reach Secrets (reading Secrets is reading every credential of the namespace).
package webhook.rbac

role_kinds := {"Role", "ClusterRole"}

# METADATA
# title: No wildcards in RBAC rules
# description: A * in verbs, resources or apiGroups grants everything that exists today and every resource added later, including escalate and impersonate.
# custom:
#   id: WH-RBAC-001
#   severity: error
deny contains {"rule": "WH-RBAC-001", "msg": msg} if {
	input.kind in role_kinds
	some i, r in input.rules
	some field in ["verbs", "resources", "apiGroups"]
	"*" in object.get(r, field, [])
	msg := sprintf("rules[%d].%s contains \"*\": list exactly the %s needed", [i, field, field])
}

# METADATA
# title: No read access to Secrets
# description: get, list or watch on secrets exposes every credential in scope; mount the one Secret the pod needs instead.
# custom:
#   id: WH-RBAC-002
#   severity: error
deny contains {"rule": "WH-RBAC-002", "msg": msg} if {
	input.kind in role_kinds
	some i, r in input.rules
	"secrets" in object.get(r, "resources", [])
	some verb in object.get(r, "verbs", [])
	verb in {"get", "list", "watch"}
	msg := sprintf("rules[%d] grants %s on secrets: remove it and mount the needed Secret into the pod instead", [i, verb])
}

# METADATA
# title: The service gets no cluster-wide RBAC
# description: webhook-service runs in one namespace; a ClusterRole or ClusterRoleBinding for it grants access to every namespace.
# custom:
#   id: WH-RBAC-003
#   severity: error
deny contains {"rule": "WH-RBAC-003", "msg": msg} if {
	input.kind in {"ClusterRole", "ClusterRoleBinding"}
	input.metadata.labels["app.kubernetes.io/name"] == "webhook-service"
	msg := sprintf("webhook-service must not have a %s: use a namespaced Role and RoleBinding", [input.kind])
}

# METADATA
# title: Nothing is bound to cluster-admin
# description: cluster-admin is full control of the cluster; a binding to it turns any compromise of the subject into a cluster takeover.
# custom:
#   id: WH-RBAC-004
#   severity: error
deny contains {"rule": "WH-RBAC-004", "msg": msg} if {
	input.kind in {"RoleBinding", "ClusterRoleBinding"}
	input.roleRef.kind == "ClusterRole"
	input.roleRef.name == "cluster-admin"
	msg := "the binding grants cluster-admin: bind a Role with only the verbs and resources needed"
}
