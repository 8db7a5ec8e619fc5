# Networking: NetworkPolicies that really restrict, TLS-only Ingresses, no Service that exposes pods
# on every node or a cloud load balancer outside the ingress path, or that answers only on some nodes.
package webhook.network

import data.lib.k8s

# METADATA
# title: NetworkPolicies do not allow everything
# description: An ingress rule without peers or 0.0.0.0/0 without except admits every source; an egress rule without peers and ports reaches everything, and so does one without peers whose ports cover every port of a protocol (a port entry without port, or ranges with endPort that together span 1-65535). In production (the policy's environment label; none means production) an egress rule without peers may only open DNS, port 53; any other port is open to every destination, the cluster's own services and the API server included. Such a policy only looks like isolation. (An empty peer is refused by the API server, which reports it as WH-API-001 when the server stage runs; offline this rule reports it.)
# custom:
#   id: WH-NET-001
#   severity: error
deny contains {"rule": "WH-NET-001", "msg": msg} if {
	input.kind == "NetworkPolicy"
	some i, r in input.spec.ingress
	count(object.get(r, "from", [])) == 0
	msg := sprintf("spec.ingress[%d] has no from: it admits every source; list the allowed podSelector/namespaceSelector peers", [i])
}

deny contains {"rule": "WH-NET-001", "msg": msg} if {
	input.kind == "NetworkPolicy"
	some direction, peers in {"ingress": "from", "egress": "to"}
	some i, r in object.get(input.spec, direction, [])
	some j, peer in object.get(r, peers, [])
	count(peer) == 0
	not api_server_judges
	msg := sprintf("spec.%s[%d].%s[%d] is an empty peer, which kube-apiserver refuses (a peer needs a podSelector, namespaceSelector or ipBlock), so the sync fails: give it one", [direction, i, peers, j])
}

# A real kube-apiserver judges this run's objects (the server stage): what it refuses is its finding (WH-API-001).
api_server_judges if data.harness.apiServer == true

deny contains {"rule": "WH-NET-001", "msg": msg} if {
	input.kind == "NetworkPolicy"
	some i, r in input.spec.ingress
	some j, peer in r.from
	peer.ipBlock.cidr in {"0.0.0.0/0", "::/0"}
	count(object.get(peer.ipBlock, "except", [])) == 0
	msg := sprintf("spec.ingress[%d].from[%d] admits %s without except: restrict the CIDR or use pod/namespace selectors", [i, j, peer.ipBlock.cidr])
}

deny contains {"rule": "WH-NET-001", "msg": msg} if {
	input.kind == "NetworkPolicy"
	some i, r in input.spec.egress
	count(object.get(r, "to", [])) == 0
	count(object.get(r, "ports", [])) == 0
	msg := sprintf("spec.egress[%d] has neither to nor ports: it allows all egress; list the destinations (and ports) needed", [i])
}

deny contains {"rule": "WH-NET-001", "msg": msg} if {
	input.kind == "NetworkPolicy"
	some i, r in input.spec.egress
	count(object.get(r, "to", [])) == 0
	some protocol in all_ports_open(object.get(r, "ports", []))
	msg := sprintf("spec.egress[%d] has no to and its ports cover every %s port: it allows all egress; list the destinations (to) and only the ports needed", [i, protocol])
}

deny contains {"rule": "WH-NET-001", "msg": msg} if {
	input.kind == "NetworkPolicy"
	some i, r in input.spec.egress
	count(object.get(r, "to", [])) == 0
	count(object.get(r, "ports", [])) > max_judged_ports
	msg := sprintf("spec.egress[%d] has no to and lists %d ports, more than the %d gitops-check judges (whether they open every port): list the destinations (to)", [i, count(r.ports), max_judged_ports])
}

deny contains {"rule": "WH-NET-001", "msg": msg} if {
	input.kind == "NetworkPolicy"
	k8s.environment == "production"
	some i, r in input.spec.egress
	count(object.get(r, "to", [])) == 0
	count(all_ports_open(object.get(r, "ports", []))) == 0
	some j, p in object.get(r, "ports", [])
	not dns_port(p)
	msg := sprintf("spec.egress[%d] has no to, so ports[%d] (%s) is open to every destination in production: add to with the podSelector/namespaceSelector or ipBlock peers (only DNS, port 53, may go without)", [i, j, port_text(p)])
}

# The protocols (TCP when unset) whose every port a NetworkPolicy rule's ports open: an entry without port
# opens all ports of its protocol; numeric ports and port..endPort ranges open all when together they
# leave no gap in 1..65535 (a gap starts at 1 or right after the end of a range). Named ports are not
# counted.
all_ports_open(ports) := {protocol |
	some protocol in {object.get(p, "protocol", "TCP") | some p in ports}
	covers_all(ports, protocol)
}

# Port entries of one rule beyond which the gap search (quadratic) is not run: such a rule is reported as too
# many ports to judge.
max_judged_ports := 256

covers_all(ports, protocol) if {
	some p in ports
	object.get(p, "protocol", "TCP") == protocol
	not "port" in object.keys(p)
}

covers_all(ports, protocol) if {
	ranges := {[lo, hi] |
		some p in ports
		object.get(p, "protocol", "TCP") == protocol
		[lo, hi] := port_range(p)
	}
	count(ranges) <= max_judged_ports
	sum([width | some r in ranges; width := (r[1] - r[0]) + 1]) >= 65535 # fewer ports cannot span 1-65535
	port_covered(ranges, 1)
	every range in ranges {
		gap_closed(ranges, range[1])
	}
}

gap_closed(_, hi) if hi >= 65535

gap_closed(ranges, hi) if {
	hi < 65535
	port_covered(ranges, hi + 1)
}

port_covered(ranges, n) if {
	some range in ranges
	range[0] <= n
	n <= range[1]
}

port_range(p) := [n, object.get(p, "endPort", n)] if n := port_number(p.port)

port_number(v) := v if is_number(v)

port_number(v) := to_number(v) if {
	is_string(v)
	regex.match(`^[0-9]+$`, v)
}

dns_port(p) if {
	port_number(p.port) == 53
	object.get(p, "endPort", 53) == 53
}

port_text(p) := sprintf("%s %v-%v", [object.get(p, "protocol", "TCP"), p.port, p.endPort]) if p.endPort

port_text(p) := sprintf("%s %v", [object.get(p, "protocol", "TCP"), p.port]) if {
	not p.endPort
	"port" in object.keys(p)
}

port_text(p) := sprintf("every %s port", [object.get(p, "protocol", "TCP")]) if not "port" in object.keys(p)

# METADATA
# title: Ingresses serve TLS for every host, with an ingress class
# description: A host without a TLS entry is served over plain HTTP; without ingressClassName the default (or no) controller picks it up.
# custom:
#   id: WH-NET-002
#   severity: error
deny contains {"rule": "WH-NET-002", "msg": msg} if {
	input.kind == "Ingress"
	some r in input.spec.rules
	host := object.get(r, "host", "")
	not tls_host(host)
	msg := sprintf("host %q has no TLS: add it to spec.tls[].hosts with a certificate secretName", [host])
}

deny contains {"rule": "WH-NET-002", "msg": msg} if {
	input.kind == "Ingress"
	not input.spec.ingressClassName
	msg := "spec.ingressClassName is not set: name the controller that must serve it (e.g. nginx)"
}

tls_host(host) if {
	some t in input.spec.tls
	host in t.hosts
}

# METADATA
# title: Ingresses force HTTPS
# description: With TLS but no redirect, clients that call http:// send webhook payloads and tokens in clear text. The force-ssl-redirect (or ssl-redirect) annotation must be true in any spelling strconv.ParseBool reads as true ("true", "True", "1", ...), and ssl-redirect must not be false in any spelling.
# custom:
#   id: WH-NET-003
#   severity: error
deny contains {"rule": "WH-NET-003", "msg": msg} if {
	input.kind == "Ingress"
	not forces_https
	msg := "the Ingress does not force HTTPS: set the annotation nginx.ingress.kubernetes.io/force-ssl-redirect: \"true\" (and do not set ssl-redirect: \"false\")"
}

redirect_annotations := {
	"nginx.ingress.kubernetes.io/force-ssl-redirect",
	"nginx.ingress.kubernetes.io/ssl-redirect",
}

# ingress-nginx redirects by default once TLS is set, unless ssl-redirect is false; the explicit
# annotation keeps the intent visible and survives a controller default change.
forces_https if {
	some name in redirect_annotations
	input.metadata.annotations[name] in parse_bool_true
	not ssl_redirect_off
}

# (A rule, not `not annotations[...] in parse_bool_false`: OPA evaluates the operands of a negated `in`
# outside the negation, so a missing annotation would make it fail instead of succeed.)
ssl_redirect_off if input.metadata.annotations["nginx.ingress.kubernetes.io/ssl-redirect"] in parse_bool_false

# ingress-nginx reads its bool annotations with Go's strconv.ParseBool: these spellings are true and
# false; the controller rejects any other value and falls back to its default.
parse_bool_true := {"1", "t", "T", "TRUE", "true", "True"}

parse_bool_false := {"0", "f", "F", "FALSE", "false", "False"}

# METADATA
# title: No NodePort or LoadBalancer Services
# description: These expose the pods on every node or on a cloud load balancer, bypassing the Ingress, its TLS and its rate limits.
# custom:
#   id: WH-NET-004
#   severity: error
deny contains {"rule": "WH-NET-004", "msg": msg} if {
	input.kind == "Service"
	input.spec.type in {"NodePort", "LoadBalancer"}
	msg := sprintf("the Service is of type %s: use ClusterIP and expose it through the Ingress", [input.spec.type])
}

# METADATA
# title: Services select pods
# description: A Service without selector (other than ExternalName) gets no endpoints unless someone manages them by hand; usually the selector was lost in a patch.
# custom:
#   id: WH-NET-005
#   severity: warning
warn contains {"rule": "WH-NET-005", "msg": msg} if {
	input.kind == "Service"
	object.get(input.spec, "type", "ClusterIP") != "ExternalName"
	count(object.get(input.spec, "selector", {})) == 0
	msg := "the Service has no selector, so it gets no endpoints: select the workload's pods (app.kubernetes.io/name)"
}

# METADATA
# title: No Service with externalIPs
# description: spec.externalIPs makes every node route traffic for those addresses to the Service, around the Ingress, its TLS and its rate limits; anyone allowed to set them can also intercept traffic meant for that IP (CVE-2020-8554).
# custom:
#   id: WH-NET-009
#   severity: error
deny contains {"rule": "WH-NET-009", "msg": msg} if {
	input.kind == "Service"
	ips := object.get(input.spec, "externalIPs", [])
	count(ips) > 0
	msg := sprintf("the Service sets spec.externalIPs %v, exposing it outside the Ingress: remove externalIPs and expose it through the Ingress", [ips])
}

# METADATA
# title: No Service with internalTrafficPolicy Local
# description: With internalTrafficPolicy Local kube-proxy routes traffic from inside the cluster (the ingress controller, the other services) only to endpoints on the client's own node, and drops it when that node runs no ready pod of the Service (ServiceInternalTrafficPolicyLocal, "dropping the traffic if there are no local endpoints", k8s.io/api core/v1 types.go; kubernetes.io/docs/concepts/services-networking/service-traffic-policy). With a few replicas spread over many nodes most clients reach nothing. Judged in every environment. Headless and ExternalName Services are not proxied and are left alone; externalTrafficPolicy Local (source IP preservation for a load balancer) is a different setting and is not reported here.
# custom:
#   id: WH-NET-010
#   severity: error
deny contains {"rule": "WH-NET-010", "msg": msg} if {
	input.kind == "Service"
	input.spec.internalTrafficPolicy == "Local"
	object.get(input.spec, "type", "ClusterIP") != "ExternalName"
	object.get(input.spec, "clusterIP", "") != "None"
	msg := "spec.internalTrafficPolicy is Local, so kube-proxy drops the Service's traffic on every node without a ready pod of its own: remove internalTrafficPolicy (the default is Cluster)"
}
