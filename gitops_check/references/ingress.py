"""ingress-nginx annotations on Ingresses, against the controller's own list at the pinned version.

ingress-nginx reads only the nginx.ingress.kubernetes.io/* names its annotation parsers declare; any other
key under the prefix is silently ignored, so a typo quietly drops the rate limit or redirect it was meant to
set. policies/data/ingress-nginx-annotations.yaml holds the list, generated from the controller's source by
scripts/ingress-nginx-annotations at `ingress-nginx-annotations-version` (pyproject.toml); it is read once per
run, and only when an Ingress carries such a key (or a near-miss one).

The same fact, "the controller will not act on this annotation as written", has two more forms:

* a value its validator rejects. parser.checkAnnotation (internal/ingress/annotations/parser/validators.go:200)
  runs the name's Validator on every non-empty value (:235): bool is strconv.ParseBool (ValidateBool, :154),
  int strconv.Atoi (ValidateInt, :160), duration time.ParseDuration (ValidateDuration, :172), cidrs
  net.ParseCIDRs (ValidateCIDRs, :166; internal/net/ipnet.go:57 and ParseIPNets :32: split on ",", each
  strings.TrimSpace'd, a CIDR by net.ParseCIDR or else an address by net.ParseIP). Mirrored here (`valid`;
  durations by gitops_check/durations.py, a port of time.ParseDuration). A rejected value makes the parser
  refuse the Ingress (annotations.go:179 Extract fails: the admission webhook denies it, the controller skips
  it), deny the location, or fall back to its default, depending on the annotation: either way the setting as
  written does not happen.
* a near-miss prefix on an Ingress of an ingress-nginx class: nginx.org/ and nginx.com/ (NGINX Inc.'s
  controller), ingress.kubernetes.io/ (ingress-nginx's prefix before 0.9) or a misspelling of
  nginx.ingress.kubernetes.io: ingress-nginx reads none of them. The class is ingress-nginx's when an
  IngressClass of the source says controller k8s.io/ingress-nginx, or, without one in the source, when its
  name contains "nginx" (the controller this repository pins; its default class is "nginx").

One more fact about ingress-nginx and the mesh (WH-REF-053, docs/architecture.md's traffic path): in front of the
Service of an Istio-routed Rollout it must proxy to the Service (service-upstream) with a Host the VirtualService
matches (upstream-vhost), or edge traffic bypasses the canary weights.
"""

from __future__ import annotations

import difflib
import fnmatch
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from weakref import WeakKeyDictionary

import yaml

from .. import loader
from ..durations import DurationError, parse_duration_ns, parse_int
from ..errors import InputError
from ..model import Document, Violation
from ..rules import rule
from .index import Index, as_dict, as_list, service_host
from .inputs import Inputs
from .network import ingress_service_backends
from .rollouts import find_virtual_service, routed_services, virtual_service_refs

UNKNOWN_ANNOTATION = rule(
    "WH-NET-006", "error", "references",
    "Annotations for ingress-nginx use its exact prefix, a name the pinned controller reads, and a value its validator "
    "accepts (bool, int, duration, CIDRs)",
    "ingress-nginx silently ignores a key it does not know, under its prefix or a near-miss one (nginx.org/ is another "
    "controller's), so a misspelt annotation quietly drops the rate limit or redirect it was written for; a value its "
    "validator rejects makes it refuse the Ingress or fall back to the default.",
)

PREFIX = "nginx.ingress.kubernetes.io/"
# Relative to the repository: a fact about the controller (like the pin it comes from), not a policy parameter.
DATA_FILE = Path("policies") / "data" / "ingress-nginx-annotations.yaml"
# What Go's strconv.ParseBool accepts (the validator of every boolean annotation, parser.ValidateBool), and of that
# what it reads as true.
TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
BOOLEANS = TRUE | {"0", "f", "F", "FALSE", "false", "False"}
NGINX_CONTROLLER = "k8s.io/ingress-nginx"  # an IngressClass's spec.controller for ingress-nginx
# Prefixes ingress-nginx does not read that are written for it by mistake, and whose they are.
OTHER_PREFIXES = {
    "nginx.org/": "the prefix of NGINX Inc.'s controller (nginx/kubernetes-ingress), which ingress-nginx does not read",
    "nginx.com/": "the prefix of NGINX Inc.'s controller for NGINX Plus, which ingress-nginx does not read",
    "ingress.kubernetes.io/": "ingress-nginx's prefix before 0.9, which it no longer reads",
}

# Mistakes whose nearest name by spelling is a different feature, so difflib alone would mislead.
MISTAKES: dict[str, tuple[tuple[str, ...], str]] = {
    "rate-limit": (("limit-rps", "limit-rpm"), "requests per second / per minute per client IP; limit-rate is bandwidth "
                   "and global-rate-limit needs a memcached"),
    "ratelimit": (("limit-rps", "limit-rpm"), "requests per second / per minute per client IP"),
    "client-max-body-size": (("proxy-body-size",), "it sets nginx's client_max_body_size; client-body-buffer-size is a buffer"),
    "secure-backends": (("backend-protocol",), 'removed upstream: backend-protocol: "HTTPS"'),
    "grpc-backend": (("backend-protocol",), 'removed upstream: backend-protocol: "GRPC"'),
    "cors": (("enable-cors",), "the cors-allow-* annotations only apply once it is true"),
    "cors-enabled": (("enable-cors",), "the cors-allow-* annotations only apply once it is true"),
    "enable-opentracing": (("enable-opentelemetry",), "OpenTracing was removed in controller v1.10; OpenTelemetry replaces it"),
}


@dataclass(frozen=True)
class Annotations:
    """policies/data/ingress-nginx-annotations.yaml: every name the controller reads, with its value type."""

    version: str
    release: str
    types: dict[str, str]  # name (without the prefix) -> bool, int, duration, cidrs or string
    deprecated: frozenset[str]

    def suggest(self, name: str) -> tuple[list[str], str]:
        """The real annotations closest to an unknown name (best first, two when equally close), and a hint."""
        wanted = name.lower().replace("_", "-")
        if wanted in MISTAKES:
            names, hint = MISTAKES[wanted]
            return [n for n in names if n in self.types], hint
        if wanted in self.types:  # only the case or an underscore was wrong
            return [wanted], "annotation names are lower case with dashes"

        words = set(wanted.split("-"))

        def closeness(candidate: str) -> tuple:
            # The same words reordered ("ssl-force-redirect"); then a plain misspelling (ratio 0.9: "forse-ssl-
            # redirect" is force-ssl-redirect, not ssl-redirect); then the words of one within the other
            # ("limit-burst" is limit-burst-multiplier, not limit-rps); then spelling; then the same letters
            # swapped ("limit-rmp"); then the longer common prefix ("limit-rpms" is limit-rpm, not limit-rps).
            theirs = set(candidate.split("-"))
            ratio = round(difflib.SequenceMatcher(None, wanted, candidate).ratio(), 3)
            prefix = next((i for i, (a, b) in enumerate(zip(wanted, candidate)) if a != b), min(len(wanted), len(candidate)))
            contained = words <= theirs or theirs <= words
            return (words == theirs, ratio >= 0.9, contained, ratio, sorted(wanted) == sorted(candidate), prefix)

        keys = {n: closeness(n) for n in difflib.get_close_matches(wanted, self.types, n=6, cutoff=0.6)}
        # Spelling alone between 0.6 and 0.7 is no evidence: "enable-http2" is not enable-cors.
        ranked = sorted((n for n, k in keys.items() if k[2] or k[3] >= 0.7), key=keys.__getitem__, reverse=True)
        if not ranked:
            return [], ""
        best = keys[ranked[0]]
        # A second name when only a hair of spelling tells the two apart ("proxy-timeout": send or read).
        tied = [n for n in ranked[1:2] if keys[n][:3] == best[:3] and keys[n][4:] == best[4:] and best[3] - keys[n][3] <= 0.03]
        return ranked[:1] + tied, ""


def load(path: Path) -> Annotations:
    """Read and check the data file; anything missing or malformed is an InputError naming it."""
    try:
        data = loader.data_file(path)
        nginx = data["ingressNginx"]
        types = {str(k): str(v) for k, v in nginx["annotations"].items()}
        deprecated = frozenset(str(n) for n in nginx.get("deprecated") or ())
        version, release, prefix = str(nginx["version"]), str(nginx.get("release") or nginx["version"]), nginx["prefix"]
    except FileNotFoundError:
        raise InputError(f"{path}: missing; run scripts/ingress-nginx-annotations to generate it") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(
            f"{path}: cannot read ingressNginx.version/prefix/annotations: {exc!r}; regenerate it with scripts/ingress-nginx-annotations"
        ) from None
    if prefix != PREFIX or not types:
        raise InputError(
            f"{path}: expected prefix {PREFIX!r} and a non-empty annotations map; regenerate it with scripts/ingress-nginx-annotations"
        )
    return Annotations(version, release, types, deprecated)


_LOADED: WeakKeyDictionary[Inputs, Annotations] = WeakKeyDictionary()


def annotations_for(inputs: Inputs) -> Annotations:
    """The data file, loaded once per run (one Inputs per run)."""
    if inputs not in _LOADED:
        _LOADED[inputs] = load(inputs.ctx.settings.repo_root / DATA_FILE)
    return _LOADED[inputs]


def _fix(known: Annotations, name: str) -> str:
    names, hint = known.suggest(name)
    if not names:
        return f"remove it, or use the intended name from {DATA_FILE} (none is close to {name!r})"
    use = " or ".join(PREFIX + n for n in names)
    return f"use {use} ({hint})" if hint else f"use {use}, the closest annotation it reads"


# --------------------------------------------------------------------------- values, as the validators read them

# What Go's strings.TrimSpace trims: unicode.IsSpace, the Unicode White_Space property (str.strip() also takes \x1c-\x1f).
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"


def _atoi(value: str) -> bool:
    """strconv.Atoi on a 64-bit build: an optional sign and ASCII digits (no underscores, no spaces), in int64."""
    return parse_int(value, 64) is not None


def _go_ip(text: str) -> int | None:
    """net.ParseIP (netip.ParseAddr without a zone): the address's bit length, or None."""
    if "%" in text:
        return None
    try:
        return ipaddress.ip_address(text).max_prefixlen
    except ValueError:
        return None


def _go_cidr(text: str) -> bool:
    """net.ParseCIDR: an address without zone, "/", then decimal digits (dtoi) up to the address's bit length."""
    addr, found, mask = text.partition("/")
    bits = _go_ip(addr) if found else None
    digits = mask.lstrip("0") or "0"
    return bits is not None and mask.isascii() and mask.isdigit() and len(digits) <= 3 and int(digits) <= bits


def _bad_cidr(value: str) -> str | None:
    """internal/net ParseCIDRs: split on ",", trim each, a CIDR else an IP; the first entry it rejects, or None."""
    for entry in value.split(","):
        entry = entry.strip(_GO_SPACE)
        if not _go_cidr(entry) and _go_ip(entry) is None:
            return entry
    return None


def _duration(value: str) -> bool:
    try:
        parse_duration_ns(value)
        return True
    except DurationError:
        return False


# type -> (accepts, what the validator wants, the Go function mirrored and what it takes)
VALIDATORS = {
    "bool": (lambda v: v in BOOLEANS, "a boolean", "strconv.ParseBool: true, false, 1, 0, t, f"),
    "int": (_atoi, "an integer", "strconv.Atoi: digits with an optional sign, nothing else"),
    "duration": (_duration, "a Go duration", "time.ParseDuration: numbers with a unit ns, us, ms, s, m or h, e.g. 1m30s"),
    "cidrs": (lambda v: _bad_cidr(v) is None, "a list of CIDRs or IP addresses",
              "net.ParseCIDRs: comma-separated, each a CIDR or an address"),
}


def valid(kind: str, value: str) -> bool:
    """Whether ingress-nginx's validator of an annotation type accepts a value (an empty one is never validated)."""
    accepts = VALIDATORS.get(kind, (None,))[0]
    return value == "" or accepts is None or accepts(value)


def _value_fix(kind: str, value: str) -> str:
    if kind == "bool":
        return 'use "true" or "false"'
    if kind == "int":
        joined = re.sub(r"[\s_,']", "", value)
        digits = joined if _atoi(joined) else (m[0] if (m := re.match(r"[+-]?[0-9]+", value.strip())) else "")
        return f'write a plain integer{f" ({digits!r} if that is the number meant)" if digits else ""}'
    if kind == "duration":
        return f'write a Go duration{f" ({value.strip()}s for seconds)" if _atoi(value.strip()) else ", e.g. 30s or 1m"}'
    bad = _bad_cidr(value)
    return f"{bad!r} is neither a CIDR nor an address; write CIDRs (10.0.0.0/8) or addresses, separated by commas"


def _bad_value(ingress: Document, key: str, kind: str, value: str, known: Annotations) -> Violation:
    what, go = VALIDATORS[kind][1], VALIDATORS[kind][2]
    if kind == "bool":
        effect = ("refuses the whole Ingress (its admission webhook denies it; without the webhook the controller skips "
                  "the update)")
    else:
        effect = ("rejects it: depending on the annotation it refuses the whole Ingress (its admission webhook denies it), "
                  "denies the location, or falls back to its default, and either way the setting as written never applies")
    return UNKNOWN_ANNOTATION.violation(
        ingress,
        f"Ingress {ingress.name}: annotation {key}: {value!r} is not {what}, which ingress-nginx {known.release} requires "
        f"of this {kind} annotation ({go}), so it {effect}; {_value_fix(kind, value)}",
    )


# --------------------------------------------------------------------------- near-miss prefixes

_PREFIX_DOMAIN = PREFIX.rstrip("/")


def near_miss(key: str) -> str | None:
    """Why a key's prefix is not ingress-nginx's though written for it (None when it is not such a prefix)."""
    domain, slash, _ = key.partition("/")
    if not slash or domain == _PREFIX_DOMAIN:
        return None
    if domain + "/" in OTHER_PREFIXES:
        return OTHER_PREFIXES[domain + "/"]
    parts = re.split(r"[.-]", domain)
    looks_nginx = any(sorted(part) == sorted("nginx") for part in parts)
    if looks_nginx and difflib.SequenceMatcher(None, domain, _PREFIX_DOMAIN).ratio() >= 0.75:
        return f"a misspelling of ingress-nginx's prefix {PREFIX}"
    return None


def nginx_class(idx: Index, ingress: Document) -> str | None:
    """The Ingress's class when ingress-nginx serves it: an IngressClass of the source with its controller, or, when
    the source has none of that name, a class named like it ("nginx"); None otherwise."""
    cls = (as_dict(ingress.obj.get("spec")).get("ingressClassName")
           or as_dict(ingress.metadata.get("annotations")).get("kubernetes.io/ingress.class"))  # the legacy annotation
    if not isinstance(cls, str) or not cls:
        return None
    declared = idx.get("IngressClass", "", cls)
    if declared is not None:
        return cls if as_dict(declared.obj.get("spec")).get("controller") == NGINX_CONTROLLER else None
    return cls if "nginx" in cls.lower() else None


def _near_miss_fix(known: Annotations, suffix: str, value, annotations: dict) -> str:
    names, hint = ([suffix], "") if suffix in known.types else known.suggest(suffix)
    if not names:
        return f"remove it: ingress-nginx has no annotation like {suffix!r} (see {DATA_FILE})"
    if len(names) == 1 and PREFIX + names[0] in annotations:
        return f"remove it ({PREFIX}{names[0]} is already set)"
    use = " or ".join(PREFIX + n for n in names)
    fix = f"use {use}" + (f" ({hint})" if hint else "")
    kind = known.types[names[0]]
    if len(names) == 1 and isinstance(value, str) and not valid(kind, value):
        fix += f" with a value it accepts: {VALIDATORS[kind][1]} ({VALIDATORS[kind][2]}), not {value!r}"
    return fix


# --------------------------------------------------------------------------- the check


def nginx_annotations(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """Every nginx.ingress.kubernetes.io/* key of an Ingress must be a name the pinned controller reads, with a
    value its validator accepts; an Ingress of an ingress-nginx class must not use a near-miss prefix. Other
    prefixes are not judged."""
    for ingress in idx.of_kind("Ingress"):
        annotations = as_dict(ingress.metadata.get("annotations"))
        keys = sorted(str(k) for k in annotations if str(k).startswith(PREFIX))
        cls = nginx_class(idx, ingress)
        missed = sorted((str(k), why) for k in annotations if cls and (why := near_miss(str(k))))
        if not keys and not missed:
            continue
        known = annotations_for(inputs)
        for key in keys:
            name, value = key[len(PREFIX):], annotations[key]
            if name in known.deprecated:
                yield UNKNOWN_ANNOTATION.violation(
                    ingress,
                    f"Ingress {ingress.name}: annotation {key} is deprecated in ingress-nginx {known.release} and has no effect "
                    "(the admission webhook only warns); remove it",
                )
            elif name not in known.types:
                yield UNKNOWN_ANNOTATION.violation(
                    ingress,
                    f"Ingress {ingress.name}: annotation {key} is not one ingress-nginx {known.release} reads, so the controller "
                    f"silently ignores it; {_fix(known, name)}",
                )
            elif known.types[name] in VALIDATORS and isinstance(value, str) and not valid(known.types[name], value):
                yield _bad_value(ingress, key, known.types[name], value, known)
        for key, why in missed:
            suffix = key.partition("/")[2]
            yield UNKNOWN_ANNOTATION.violation(
                ingress,
                f"Ingress {ingress.name}: annotation {key} is under {key.partition('/')[0]}/, {why}, so ingress-nginx "
                f"{known.release} (ingressClassName {cls}) ignores it; "
                f"{_near_miss_fix(known, suffix.lower().replace('_', '-'), annotations[key], annotations)}",
            )


# --------------------------------------------------------------------------- the edge in front of mesh routing

MESH_UPSTREAM = rule(
    "WH-REF-053", "error", "references",
    "An ingress-nginx Ingress in front of an Istio-routed Rollout's Service proxies to the Service (service-upstream) "
    "with a Host its VirtualService matches (upstream-vhost)",
    "Without service-upstream ingress-nginx sends requests straight to the pod IPs of the Service's endpoints, and with "
    "the public Host its sidecar finds no VirtualService route: either way the canary weights are bypassed, the canary "
    "gets no edge traffic, and its analysis reads empty results, which count as success.",
)


def _mesh_backends(idx: Index, ingress: Document) -> Iterator[tuple[str, str, Document]]:
    """(where, Service, Rollout) for each backend that is the canary or stable Service of an Istio-routed Rollout."""
    routed = {}
    for rollout in idx.of_kind("Rollout"):
        if virtual_service_refs(rollout) and idx.ns(rollout) == idx.ns(ingress):
            for field, name in routed_services(rollout):
                if field.startswith("canary."):
                    routed.setdefault(name, rollout)
    for where, backend in ingress_service_backends(ingress):
        if str(backend.get("name")) in routed:
            yield where, str(backend["name"]), routed[str(backend["name"])]


def _vhost_matches(vhost: str, host: str, namespace: str) -> bool:
    """Whether a Host header reaches a VirtualService host from the ingress controller's sidecar, which runs in another
    namespace and so knows a Service only qualified with its namespace: the same qualified name (a port aside), a
    wildcard host, or the host's Service as name.namespace[.svc[.cluster.local]]."""
    vhost = re.sub(r":[0-9]+$", "", vhost)
    if (vhost == host and "." in host) or (host.startswith("*") and fnmatch.fnmatchcase(vhost, host)):
        return True
    service = service_host(vhost, namespace)
    return "." in vhost and "." not in service and service == service_host(host, namespace)


def _vs_hosts(idx: Index, rollout: Document) -> list[tuple[str, str]]:
    """(host, namespace) of every VirtualService of the source the Rollout routes through."""
    found = (find_virtual_service(idx, rollout, ref.name) for ref in virtual_service_refs(rollout))
    return [(str(h), idx.ns(vs)) for vs in found if vs is not None for h in as_list(as_dict(vs.obj.get("spec")).get("hosts"))]


def mesh_upstreams(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """An Ingress of an ingress-nginx class whose backend is the canary or stable Service of an Istio-routed Rollout
    must proxy to the Service (service-upstream true, as strconv.ParseBool reads it) with an upstream-vhost that names
    a host of the Rollout's VirtualService (qualified with its namespace: the controller runs in another one), as
    docs/architecture.md's traffic path has it. A vhost with nginx variables cannot be judged, so it is refused."""
    for ingress in idx.of_kind("Ingress"):
        backend = next(_mesh_backends(idx, ingress), None) if nginx_class(idx, ingress) else None
        if backend is None:
            continue
        where, service, rollout = backend
        annotations = as_dict(ingress.metadata.get("annotations"))
        hosts = _vs_hosts(idx, rollout)
        ns = hosts[0][1] if hosts else idx.ns(ingress)
        name = service_host(hosts[0][0], ns) if hosts else service
        wanted = f"{name}.{ns}.svc.cluster.local" if "." not in name else name
        intro = f"Ingress {ingress.name}: {where} is Service {service!r}, which Rollout {rollout.name!r} routes with Istio"
        upstream = annotations.get(PREFIX + "service-upstream")
        if str(upstream) not in TRUE:
            yield MESH_UPSTREAM.violation(
                ingress,
                f"{intro}, but {PREFIX}service-upstream is {'not set' if upstream is None else repr(upstream)}, so "
                "ingress-nginx sends requests straight to the pod IPs of the Service's endpoints and the VirtualService "
                f'weights never apply; set {PREFIX}service-upstream: "true"',
            )
        vhost = str(annotations.get(PREFIX + "upstream-vhost") or "")
        if "$" not in vhost and vhost and (not hosts or any(_vhost_matches(vhost, h, n) for h, n in hosts)):
            continue
        if "$" in vhost:
            what = f"{vhost!r}, an nginx variable gitops-check cannot resolve (and $host is the public Host)"
        else:
            what = f"{vhost!r}, not a host of its VirtualService" if vhost else "not set"
        yield MESH_UPSTREAM.violation(
            ingress,
            f"{intro}, but {PREFIX}upstream-vhost is {what}, so requests may keep the public Host and the sidecar of "
            f"ingress-nginx then matches no VirtualService route (the weights never apply); set {PREFIX}upstream-vhost: "
            f"{wanted}",
        )


CHECKS = (nginx_annotations, mesh_upstreams)
