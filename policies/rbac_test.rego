package webhook.rbac_test

import data.lib.fixtures_test as f
import data.webhook.rbac

role(kind, rules) := {"kind": kind, "metadata": f.meta("x"), "rules": rules}

test_narrow_role_passes if {
	count(rbac.deny) == 0 with input as role("Role", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}])
}

test_wildcards_fire if {
	every field in ["apiGroups", "resources", "verbs"] {
		r := object.union({"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}, {field: ["*"]})
		"WH-RBAC-001" in f.ids(rbac.deny) with input as role("Role", [r])
	}
}

test_secret_reads_fire_but_create_does_not if {
	"WH-RBAC-002" in f.ids(rbac.deny) with input as role("Role", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["watch"]}])
	count(rbac.deny) == 0 with input as role("Role", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}])
}

test_cluster_scope_for_the_service_fires if {
	"WH-RBAC-003" in f.ids(rbac.deny) with input as {"kind": "ClusterRoleBinding", "metadata": f.meta("x"), "roleRef": {"kind": "ClusterRole", "name": "view"}}
	count(rbac.deny) == 0 with input as {"kind": "ClusterRole", "metadata": {"name": "platform"}, "rules": []}
}

test_cluster_admin_binding_fires if {
	"WH-RBAC-004" in f.ids(rbac.deny) with input as {"kind": "RoleBinding", "metadata": f.meta("x"), "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}}
}
