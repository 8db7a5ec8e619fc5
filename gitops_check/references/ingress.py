"""ingress-nginx annotations on Ingresses, against the controller's own list at the pinned version.

ingress-nginx reads only the nginx.ingress.kubernetes.io/* names its annotation parsers declare; any other
key under the prefix is silently ignored, so a typo quietly drops the rate limit or redirect it was meant to
set. policies/data/ingress-nginx-annotations.yaml holds the list, generated from the controller's source by
scripts/ingress-nginx-annotations at `ingress-nginx-annotations-version` (pyproject.toml); it is read once per
run, and only when an Ingress carries such a key.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from weakref import WeakKeyDictionary

import yaml

from ..errors import InputError
from ..model import Violation
from ..rules import rule
from .index import Index, as_dict
from .inputs import Inputs

UNKNOWN_ANNOTATION = rule(
    "WH-NET-006", "error", "references",
    "nginx.ingress.kubernetes.io annotations on Ingresses are ones the pinned ingress-nginx reads, booleans with boolean values",
    "ingress-nginx silently ignores a key under its prefix that it does not know, so a misspelt annotation quietly "
    "drops the rate limit or redirect it was written for; a boolean annotation with another value makes it refuse the Ingress.",
)

PREFIX = "nginx.ingress.kubernetes.io/"
# Relative to the repository: a fact about the controller (like the pin it comes from), not a policy parameter.
DATA_FILE = Path("policies") / "data" / "ingress-nginx-annotations.yaml"
# What Go's strconv.ParseBool accepts: the validator of every boolean annotation (parser.ValidateBool).
BOOLEANS = frozenset({"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"})

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
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
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


def nginx_annotations(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """Every nginx.ingress.kubernetes.io/* key of an Ingress must be a name the pinned controller reads;
    a boolean one must hold a value its validator (strconv.ParseBool) accepts. Other prefixes are not judged."""
    for ingress in idx.of_kind("Ingress"):
        annotations = as_dict(ingress.metadata.get("annotations"))
        keys = sorted(str(k) for k in annotations if str(k).startswith(PREFIX))
        if not keys:
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
            elif known.types[name] == "bool" and isinstance(value, str) and value and value not in BOOLEANS:
                yield UNKNOWN_ANNOTATION.violation(
                    ingress,
                    f"Ingress {ingress.name}: annotation {key}: {value!r} is not a boolean, so ingress-nginx {known.release} "
                    "refuses the whole Ingress (its admission webhook denies it; without the webhook the controller skips the update); "
                    'use "true" or "false"',
                )


CHECKS = (nginx_annotations,)
