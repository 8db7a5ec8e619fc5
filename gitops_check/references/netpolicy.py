"""What the NetworkPolicies of a source let in and out of a pod template, read as the NetworkPolicy API
defines it. No rules here: required.py (WH-REQ-002) and traffic.py (WH-NET-007/008) judge with it.

- A pod is isolated for a direction when some policy of its namespace selects it (an empty podSelector
  selects every pod) and has that direction in its policyTypes. Without policyTypes a policy has Ingress,
  plus Egress when it has egress rules (the API server's defaulting). Isolated traffic passes only when
  some rule of a selecting policy admits it; policies add up, none subtracts.
- A rule without peers (from/to absent or empty) admits every peer; without ports, every port.
- A namespaceSelector is matched against the labels a namespace is known to carry: the
  kubernetes.io/metadata.name label every namespace has, plus the labels of a Namespace object of the
  source. A podSelector without namespaceSelector means the policy's own namespace.
- What cannot be known offline is given the benefit of the doubt, never reported: which addresses an
  ipBlock holds for pods or for an outside hostname, the pod labels of a peer the parameters do not
  describe, and a named egress port the destination's pods would resolve (unless it is a well-known name).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Callable

from ..model import Document
from .index import Index, PodTemplate, Selector, as_dict, as_list, dicts

INGRESS, EGRESS = "Ingress", "Egress"
NAME_LABEL = "kubernetes.io/metadata.name"

# Port names whose number does not depend on the destination's pods: IANA service names and the names the
# cluster DNS pods give their ports (CoreDNS/kube-dns: dns UDP 53, dns-tcp TCP 53).
WELL_KNOWN_PORTS = {
    "dns": 53, "dns-tcp": 53, "domain": 53, "http": 80, "https": 443, "amqp": 5672, "amqps": 5671,
    "postgresql": 5432, "postgres": 5432, "mysql": 3306, "redis": 6379, "mongodb": 27017, "memcache": 11211,
    "nats": 4222, "kafka": 9092, "ldap": 389, "ldaps": 636, "smtp": 25, "submission": 587,
}


@dataclass(frozen=True)
class Peer:
    """The other end of some traffic: a namespace (with pod labels when known), an IP address, or an
    outside hostname. `namespace` may be a guess for a two-label name (`<service>.<namespace>`)."""

    namespace: str | None = None
    pod_labels: dict | None = None  # None: not known, any podSelector is accepted
    ip: Any = None  # ipaddress.IPv4Address/IPv6Address
    outside: bool = False  # a hostname outside the cluster DNS (only ipBlock peers or no peers reach it)

    def describe(self) -> str:
        if self.ip is not None:
            return f"address {self.ip}"
        if self.namespace and self.outside:
            return f'namespace "{self.namespace}" (or an outside address)'
        if self.namespace:
            labels = ", ".join(f"{k}={v}" for k, v in sorted((self.pod_labels or {}).items()))
            return f'namespace "{self.namespace}"' + (f" (pods {labels})" if labels else "")
        return "an outside address"


def policy_types(policy: Document) -> set[str]:
    spec = as_dict(policy.obj.get("spec"))
    types = as_list(spec.get("policyTypes"))
    if types:
        return {str(t) for t in types}
    return {INGRESS} | ({EGRESS} if as_list(spec.get("egress")) else set())


def pod_selector(policy: Document) -> Selector:
    return Selector.of(as_dict(policy.obj.get("spec")).get("podSelector"))


def selecting(idx: Index, template: PodTemplate) -> list[Document]:
    """The NetworkPolicies of the template's namespace that select its pods."""
    return [
        p for p in idx.of_kind("NetworkPolicy")
        if idx.ns(p) == template.namespace and pod_selector(p).matches(template.labels)
    ]


def isolating(idx: Index, template: PodTemplate, direction: str) -> list[Document]:
    """The policies that isolate the template's pods for a direction ([]: that direction is not restricted)."""
    return [p for p in selecting(idx, template) if direction in policy_types(p)]


def rules(policy: Document, direction: str) -> list[dict]:
    if direction not in policy_types(policy):
        return []
    return dicts(as_dict(policy.obj.get("spec")).get("ingress" if direction == INGRESS else "egress"))


def namespace_labels(idx: Index, namespace: str) -> dict:
    labels = {NAME_LABEL: namespace}
    doc = idx.get("Namespace", "", namespace)
    if doc is not None:
        labels.update({str(k): str(v) for k, v in doc.labels.items()})
    return labels


def _pods_match(peer: dict, other: Peer) -> bool:
    if "podSelector" not in peer or other.pod_labels is None:
        return True
    return Selector.of(peer.get("podSelector")).matches(other.pod_labels)


def peer_admits(idx: Index, policy: Document, peer: dict, other: Peer) -> bool:
    """Whether one from/to entry admits the other end."""
    block = peer.get("ipBlock")
    if block is not None:
        if other.ip is None:
            return True  # the addresses of pods or of an outside name are not known offline
        return _in_block(as_dict(block), other.ip)
    if "namespaceSelector" not in peer and "podSelector" not in peer:
        return False  # an empty peer is WH-NET-001's finding
    if other.ip is not None:
        return True  # an address may belong to a pod the selectors select: cannot tell
    if other.namespace is None:
        return False  # an outside hostname is reached through ipBlock (or no peers) only
    if "namespaceSelector" in peer:
        ns_ok = Selector.of(peer.get("namespaceSelector")).matches(namespace_labels(idx, other.namespace))
    else:
        ns_ok = idx.ns(policy) == other.namespace
    return ns_ok and _pods_match(peer, other)


def _in_block(block: dict, ip) -> bool:
    try:
        if ip not in ipaddress.ip_network(str(block.get("cidr")), strict=False):
            return False
        return not any(ip in ipaddress.ip_network(str(e), strict=False) for e in as_list(block.get("except")))
    except ValueError:
        return False  # a CIDR that does not parse is the API server's finding


def named(port: Any) -> bool:
    return isinstance(port, str) and not port.isdigit()


def port_admits(entry: dict, protocol: str, number: int | None, name: str | None,
                resolve: Callable[[str], int | None]) -> bool:
    """Whether one `ports` entry admits (protocol, port). `resolve` turns a named port into a number, or
    None when it cannot be known (then the entry is taken to admit it)."""
    if str(entry.get("protocol") or "TCP").upper() != protocol:
        return False
    value = entry.get("port")
    if value is None:
        return True  # every port of the protocol
    if named(value):
        if name is not None and value == name:
            return True
        resolved = resolve(value)
        return resolved is None or resolved == number
    try:
        low = int(value)
        high = int(entry.get("endPort") or low)
    except (TypeError, ValueError):
        return False
    return number is not None and low <= number <= high


def admitted(idx: Index, template: PodTemplate, direction: str, other: Peer, protocol: str, number: int | None,
             name: str | None, resolve: Callable[[str], int | None]) -> bool | None:
    """None when the direction is not restricted for the template's pods; else whether some rule of a
    selecting policy admits the traffic."""
    policies = isolating(idx, template, direction)
    if not policies:
        return None
    field = "from" if direction == INGRESS else "to"
    for policy in policies:
        for rule in rules(policy, direction):
            peers = dicts(rule.get(field))
            if peers and not any(peer_admits(idx, policy, p, other) for p in peers):
                continue
            ports = dicts(rule.get("ports"))
            if not ports or any(port_admits(e, protocol, number, name, resolve) for e in ports):
                return True
    return False


def ports_towards(idx: Index, template: PodTemplate, direction: str, other: Peer) -> list[str]:
    """The ports the selecting policies admit towards a peer they name (a hint for messages): ipBlocks for
    an address, selectors for a namespace; the peers that only may hold it do not count."""
    field = "from" if direction == INGRESS else "to"
    found: list[str] = []
    for policy in isolating(idx, template, direction):
        for rule in rules(policy, direction):
            peers = [p for p in dicts(rule.get(field)) if ("ipBlock" in p) == (other.ip is not None)]
            if dicts(rule.get(field)) and not any(peer_admits(idx, policy, p, other) for p in peers):
                continue
            ports = dicts(rule.get("ports"))
            if not ports:
                return ["every port"]
            for e in ports:
                text = f"{str(e.get('protocol') or 'TCP').upper()} {e.get('port', 'any')}"
                text += f"-{e['endPort']}" if e.get("endPort") else ""
                found.append(text)
    return list(dict.fromkeys(found))


def names(policies: list[Document]) -> str:
    return ", ".join(sorted({p.name for p in policies}))


def allow_policy(idx: Index, template: PodTemplate, direction: str) -> Document | None:
    """The policy a fix belongs in: one that selects the pods by label and has rules in that direction."""
    candidates = [p for p in isolating(idx, template, direction) if not pod_selector(p).empty]
    with_rules = [p for p in candidates if rules(p, direction)]
    return (with_rules or candidates or [None])[0]
