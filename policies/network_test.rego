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

test_an_empty_peer_is_the_api_servers_finding_when_it_judges if {
	# kube-apiserver refuses an empty peer (WH-API-001 in the server stage); offline this rule stands in for it
	some d in network.deny with input as policy({"egress": [{"to": [{}], "ports": [{"port": 443}]}]})
	contains(d.msg, "kube-apiserver refuses")
	count(network.deny) == 0 with input as policy({"egress": [{"to": [{}], "ports": [{"port": 443}]}]})
		with data.harness.apiServer as true
	count(network.deny) == 0 with input as policy({"ingress": [{"from": [{}]}]}) with data.harness.apiServer as true
	"WH-NET-001" in f.ids(network.deny) with input as policy({"ingress": [{}]}) with data.harness.apiServer as true
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

annotated(annotations) := json.patch(ingress, [{"op": "replace", "path": "/metadata/annotations", "value": annotations}])

force := "nginx.ingress.kubernetes.io/force-ssl-redirect"

ssl := "nginx.ingress.kubernetes.io/ssl-redirect"

test_https_redirect_accepts_every_true_spelling_of_parse_bool if {
	every value in ["1", "t", "T", "TRUE", "true", "True"] {
		count(network.deny) == 0 with input as annotated({force: value})
		count(network.deny) == 0 with input as annotated({ssl: value})
	}
	count(network.deny) == 0 with input as annotated({force: "True"})
	count(network.deny) == 0 with input as annotated({force: "1"})
}

test_https_redirect_false_or_unparsable_fires if {
	every value in ["false", "0", "f", "F", "FALSE", "False", "", "yes", "on", "tRuE", " true", "2"] {
		f.ids(network.deny) == {"WH-NET-003"} with input as annotated({force: value})
	}
	f.ids(network.deny) == {"WH-NET-003"} with input as annotated({force: "false"})
	f.ids(network.deny) == {"WH-NET-003"} with input as annotated({force: "0"})
}

test_ssl_redirect_false_in_any_spelling_turns_the_redirect_off if {
	every value in ["false", "0", "f", "F", "FALSE", "False"] {
		f.ids(network.deny) == {"WH-NET-003"} with input as annotated({force: "true", ssl: value})
		f.ids(network.deny) == {"WH-NET-003"} with input as annotated({ssl: value})
	}
	count(network.deny) == 0 with input as annotated({force: "True", ssl: "1"})
}

test_services if {
	"WH-NET-004" in f.ids(network.deny) with input as {"kind": "Service", "metadata": f.meta("x"), "spec": {"type": "NodePort", "selector": {"a": "b"}}}
	"WH-NET-005" in f.ids(network.warn) with input as {"kind": "Service", "metadata": f.meta("x"), "spec": {}}
	count(network.warn) == 0 with input as {"kind": "Service", "metadata": f.meta("x"), "spec": {"type": "ExternalName", "externalName": "db.example.com"}}
}

staging_policy(spec) := {"kind": "NetworkPolicy", "metadata": object.union(f.meta("x"), {"labels": {"environment": "staging"}}), "spec": spec}

test_peerless_egress_to_every_port_fires_in_every_environment if {
	every ports in [
		[{"protocol": "TCP", "port": 1, "endPort": 65535}],
		[{"port": 0, "endPort": 65535}],
		[{"protocol": "UDP"}],
		[{"port": 53, "protocol": "UDP"}, {"protocol": "TCP"}],
		[{"port": 1, "endPort": 30000}, {"port": "30001", "endPort": 65535}],
		[{"port": 1, "endPort": 1024}, {"port": 1000, "endPort": 40000}, {"port": 40001, "endPort": 65535}],
	] {
		f.ids(network.deny) == {"WH-NET-001"} with input as policy({"egress": [{"ports": ports}]})
		f.ids(network.deny) == {"WH-NET-001"} with input as staging_policy({"egress": [{"ports": ports}]})
	}
}

test_peerless_egress_message_names_the_protocol if {
	some r in network.deny with input as policy({"egress": [{"ports": [{"protocol": "TCP", "port": 1, "endPort": 65535}]}]})
	contains(r.msg, "every TCP port")
}

test_peerless_egress_to_some_ports_fires_in_production_only if {
	every ports in [
		[{"port": 443}],
		[{"port": 53, "protocol": "UDP"}, {"port": 443, "protocol": "TCP"}],
		[{"port": 1, "endPort": 30000}, {"port": 30002, "endPort": 65535}],
		[{"port": 53, "endPort": 54}],
		[{"port": "https"}],
		[{"protocol": "TCP", "port": 2, "endPort": 65535}],
	] {
		f.ids(network.deny) == {"WH-NET-001"} with input as policy({"egress": [{"ports": ports}]})
		count(network.deny) == 0 with input as staging_policy({"egress": [{"ports": ports}]})
	}
}

test_peerless_egress_with_more_ports_than_judged_fires if {
	many := [{"port": n} | some n in numbers.range(1000, 1000 + network.max_judged_ports)]
	some d in network.deny with input as staging_policy({"egress": [{"ports": many}]})
	contains(d.msg, "more than the 256 gitops-check judges")
	count(network.deny) == 0 with input as staging_policy({"egress": [{"ports": array.slice(many, 0, network.max_judged_ports)}]})
}

test_peerless_dns_and_egress_with_peers_pass if {
	every egress in [
		[{"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}],
		[{"ports": [{"port": "53"}]}],
		[{"to": [peer], "ports": [{"protocol": "TCP", "port": 1, "endPort": 65535}]}],
		[{"to": [peer], "ports": [{"port": 443}]}],
	] {
		count(network.deny) == 0 with input as policy({"egress": egress})
	}
}

service(spec) := {"kind": "Service", "metadata": f.meta("x"), "spec": object.union({"selector": {"app.kubernetes.io/name": "x"}, "ports": [{"port": 8080}]}, spec)}

test_external_ips_fire if {
	f.ids(network.deny) == {"WH-NET-009"} with input as service({"externalIPs": ["203.0.113.10"]})
	count(network.deny) == 0 with input as service({})
	count(network.deny) == 0 with input as service({"externalIPs": []})
}

test_internal_traffic_policy_local_fires if {
	f.ids(network.deny) == {"WH-NET-010"} with input as service({"internalTrafficPolicy": "Local"})
	staging := json.patch(service({"internalTrafficPolicy": "Local"}), [{"op": "replace", "path": "/metadata/labels/environment", "value": "staging"}])
	f.ids(network.deny) == {"WH-NET-010"} with input as staging
}

test_cluster_traffic_policies_pass if {
	every spec in [
		{},
		{"internalTrafficPolicy": "Cluster"},
		# source IP preservation for a load balancer is a different setting (its type is WH-NET-004's finding)
		{"externalTrafficPolicy": "Local"},
		# not proxied by kube-proxy: the field changes nothing
		{"clusterIP": "None", "internalTrafficPolicy": "Local"},
	] {
		not "WH-NET-010" in f.ids(network.deny) with input as service(spec)
	}
	count(network.deny) == 0 with input as service({"internalTrafficPolicy": "Cluster"})
}
