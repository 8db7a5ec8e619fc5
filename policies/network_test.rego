package webhook.network_test

import data.lib.fixtures_test as f
import data.webhook.network

policy(spec) := {"kind": "NetworkPolicy", "metadata": f.meta("x"), "spec": spec}

peer := {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}

ingress := {
	"kind": "Ingress",
	"metadata": object.union(f.meta("x"), {"annotations": {"nginx.ingress.kubernetes.io/force-ssl-redirect": "true"}}),
	"spec": {
		"ingressClassName": "nginx",
		"tls": [{"hosts": ["a.example.com"], "secretName": "tls"}],
		"rules": [{"host": "a.example.com"}],
	},
}

test_narrow_policy_passes if {
	count(network.deny) == 0 with input as policy({"ingress": [{"from": [peer]}], "egress": [{"ports": [{"port": 53}]}]})
}

test_open_policies_fire if {
	every spec in [
		{"ingress": [{}]},
		{"ingress": [{"from": []}]},
		{"ingress": [{"from": [{}]}]},
		{"ingress": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]},
		{"egress": [{}]},
		{"egress": [{"to": [{}], "ports": [{"port": 443}]}]},
	] {
		"WH-NET-001" in f.ids(network.deny) with input as policy(spec)
	}
}

test_ipblock_with_except_passes if {
	count(network.deny) == 0 with input as policy({"ingress": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]}]})
}

test_ingress if {
	count(network.deny) == 0 with input as ingress
	"WH-NET-002" in f.ids(network.deny) with input as json.patch(ingress, [{"op": "add", "path": "/spec/rules/-", "value": {"http": {}}}])
	"WH-NET-002" in f.ids(network.deny) with input as json.remove(ingress, ["spec/ingressClassName"])
	"WH-NET-003" in f.ids(network.deny) with input as json.remove(ingress, ["metadata/annotations"])
}

test_services if {
	"WH-NET-004" in f.ids(network.deny) with input as {"kind": "Service", "metadata": f.meta("x"), "spec": {"type": "NodePort", "selector": {"a": "b"}}}
	"WH-NET-005" in f.ids(network.warn) with input as {"kind": "Service", "metadata": f.meta("x"), "spec": {}}
	count(network.warn) == 0 with input as {"kind": "Service", "metadata": f.meta("x"), "spec": {"type": "ExternalName", "externalName": "db.example.com"}}
}
