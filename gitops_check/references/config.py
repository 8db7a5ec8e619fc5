"""What pods mount and run as: ConfigMaps, Secrets (or the ExternalSecrets, Certificates and
SealedSecrets that produce them), image pull secrets, ServiceAccounts, and the secret stores
ExternalSecrets read from.

A pod whose ConfigMap, Secret, key or ServiceAccount is missing is stuck in ContainerCreating or
CreateContainerConfigError: the rollout hangs instead of failing fast. Names are compared as rendered,
so kustomize's hashed generator names are already applied on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from ..model import Document, Violation
from ..rules import Rule, rule
from .index import Index, PodTemplate, as_dict, dicts
from .inputs import Inputs

CONFIGMAP_REF = rule(
    "WH-REF-023", "error", "references", "Referenced ConfigMaps (and keys) exist in the source",
    "A missing ConfigMap or key keeps pods in CreateContainerConfigError/ContainerCreating: the rollout hangs.",
)
SECRET_REF = rule(
    "WH-REF-024", "error", "references",
    "Referenced Secrets (and keys) exist as a Secret, ExternalSecret target, Certificate or SealedSecret in the source",
    "A missing Secret or key keeps pods from starting; image pull secrets that do not exist fail every pull.",
)
SERVICE_ACCOUNT = rule(
    "WH-REF-025", "error", "references", "A pod's serviceAccountName exists in the source",
    "Pods of a missing ServiceAccount are rejected by the API server: the ReplicaSet never creates them.",
)
SECRET_STORE = rule(
    "WH-REF-027", "error", "references", "An ExternalSecret's secretStoreRef names a SecretStore in the source (or a ClusterSecretStore)",
    "An empty or missing store leaves the ExternalSecret in SecretSyncedError: the target Secret is never created.",
)

ANY_KEY = None  # a provider whose keys cannot be known offline (dataFrom, templateFrom, Merge)


@dataclass
class Ref:
    """One reference from a pod template to a ConfigMap or Secret."""

    kind: str  # "ConfigMap" or "Secret"
    name: str
    where: str
    keys: tuple[str, ...] = ()
    optional: bool = False


def _keys(*maps) -> set[str]:
    return {str(k) for m in maps for k in as_dict(m)}


# ConfigMaps the control plane creates in every namespace (projected service account token volumes read it).
BUILTIN_CONFIGMAPS = {"kube-root-ca.crt": {"ca.crt"}}


def configmap_keys(idx: Index) -> dict[tuple[str, str], set[str] | None]:
    found: dict[tuple[str, str], set[str] | None] = {
        (t.namespace, name): keys for t in idx.templates for name, keys in BUILTIN_CONFIGMAPS.items()
    }
    for doc in idx.of_kind("ConfigMap"):
        found[(idx.ns(doc), doc.name)] = _keys(doc.obj.get("data"), doc.obj.get("binaryData"))
    return found


def _templated(template: dict) -> bool:
    """The template writes the Secret's data: it has data or templateFrom entries and its mergePolicy is not
    Merge (Replace, the default). external-secrets then writes only the templated keys, not spec.data/dataFrom."""
    return bool(template.get("data") or template.get("templateFrom")) and template.get("mergePolicy") != "Merge"


def _template_from_keys(template: dict) -> set[str] | None:
    """The data keys templateFrom entries write: each item key of a configMap/secret entry read as Values (the
    default), into the Secret's data (target Data, the default). None when an entry's keys come from the
    templates themselves (templateAs KeysAndValues, a literal) and so cannot be known offline."""
    keys: set[str] = set()
    for entry in dicts(template.get("templateFrom")):
        if str(entry.get("target") or "Data") != "Data":
            continue  # labels or annotations
        if entry.get("literal") is not None:
            return None
        for field in ("configMap", "secret"):
            for item in dicts(as_dict(entry.get(field)).get("items")):
                if str(item.get("templateAs") or "Values") != "Values":
                    return None
                keys.add(str(item.get("key")))
    return keys


def external_secret_keys(spec: dict) -> set[str] | None:
    """The keys of the Secret an ExternalSecret writes (creationPolicy Merge aside); None when unknown offline.
    As external-secrets' ApplyTemplate: spec.data/dataFrom keys, unless the template replaces them."""
    template = as_dict(as_dict(spec.get("target")).get("template"))
    templated = _template_from_keys(template)
    if templated is not None:
        templated |= _keys(template.get("data"))
    if _templated(template):
        return templated
    if spec.get("dataFrom") or templated is None:
        return ANY_KEY
    return {str(d.get("secretKey")) for d in dicts(spec.get("data"))} | templated


def secret_keys(idx: Index) -> dict[tuple[str, str], set[str] | None]:
    """(namespace, Secret name) -> keys, for every object of the source that yields a Secret."""
    found: dict[tuple[str, str], set[str] | None] = {}
    for doc in idx.source.documents:
        ns, spec = idx.ns(doc), as_dict(doc.obj.get("spec"))
        if doc.kind == "Secret":
            found[(ns, doc.name)] = _keys(doc.obj.get("data"), doc.obj.get("stringData"))
        elif doc.kind == "ExternalSecret":
            target = as_dict(spec.get("target"))
            keys = external_secret_keys(spec)
            found[(ns, str(target.get("name") or doc.name))] = ANY_KEY if target.get("creationPolicy") == "Merge" else keys
        elif doc.kind == "Certificate" and spec.get("secretName"):
            found[(ns, str(spec["secretName"]))] = {"tls.crt", "tls.key", "ca.crt"}
        elif doc.kind == "SealedSecret":
            meta = as_dict(as_dict(spec.get("template")).get("metadata"))
            found[(ns, str(meta.get("name") or doc.name))] = _keys(spec.get("encryptedData"), as_dict(spec.get("template")).get("data"))
    return found


def _items(source: dict) -> tuple[str, ...]:
    return tuple(str(i.get("key")) for i in dicts(source.get("items")))


def pod_refs(template: PodTemplate) -> Iterator[Ref]:
    """Every ConfigMap/Secret a pod template reads: env, envFrom, volumes (incl. projected), imagePullSecrets."""
    for c in template.containers(init=True):
        cname = c.get("name")
        for env in dicts(c.get("env")):
            source = as_dict(env.get("valueFrom"))
            for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                ref = as_dict(source.get(field))
                if ref:
                    yield Ref(kind, str(ref.get("name")), f"container {cname!r} env {env.get('name')!r}",
                              (str(ref.get("key")),), ref.get("optional") is True)
        for env_from in dicts(c.get("envFrom")):
            for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                ref = as_dict(env_from.get(field))
                if ref:
                    yield Ref(kind, str(ref.get("name")), f"container {cname!r} envFrom", (), ref.get("optional") is True)
    for vol in dicts(template.spec.get("volumes")):
        where = f"volume {vol.get('name')!r}"
        if vol.get("configMap"):
            cm = as_dict(vol["configMap"])
            yield Ref("ConfigMap", str(cm.get("name")), where, _items(cm), cm.get("optional") is True)
        if vol.get("secret"):
            sec = as_dict(vol["secret"])
            yield Ref("Secret", str(sec.get("secretName")), where, _items(sec), sec.get("optional") is True)
        for src in dicts(as_dict(vol.get("projected")).get("sources")):
            for field, kind in (("configMap", "ConfigMap"), ("secret", "Secret")):
                ref = as_dict(src.get(field))
                if ref:
                    yield Ref(kind, str(ref.get("name")), f"projected {where}", _items(ref), ref.get("optional") is True)
    for pull in dicts(template.spec.get("imagePullSecrets")):
        yield Ref("Secret", str(pull.get("name")), "imagePullSecrets")


def _check_refs(idx: Index, kind: str, provided: dict, found_rule: Rule, producers: str) -> Iterator[Violation]:
    seen: set[tuple[int, str, str]] = set()
    for template in idx.templates:
        for ref in pod_refs(template):
            key = (id(template.owner), ref.where, ref.name)
            if ref.kind != kind or ref.optional or key in seen:
                continue
            seen.add(key)
            ns = template.namespace
            if (ns, ref.name) not in provided:
                yield found_rule.violation(
                    template.owner,
                    f"{ref.where}: {idx.absent(kind, ns, ref.name)} (looked for {producers}){_renamed(idx, kind, ns, ref.name)}; "
                    "add it, fix the name, or mark the reference optional",
                )
                continue
            keys = provided[(ns, ref.name)]
            missing = [k for k in ref.keys if keys is not ANY_KEY and k not in keys]
            if missing:
                replaced = _replaced_by_template(idx, kind, ns, ref.name)
                yield found_rule.violation(
                    template.owner,
                    f"{ref.where}: {kind} {ref.name!r} has no key {', '.join(map(repr, missing))} "
                    f"(keys: {', '.join(sorted(keys)) or 'none'}){replaced}; add the key"
                    f"{' to target.template.data, set target.template.mergePolicy: Merge,' if replaced else ''} "
                    "or fix the reference",
                )


def _replaced_by_template(idx: Index, kind: str, namespace: str, name: str) -> str:
    """A note when the Secret is written by an ExternalSecret whose target.template replaces its spec.data keys."""
    for doc in idx.of_kind("ExternalSecret") if kind == "Secret" else ():
        target = as_dict(as_dict(doc.obj.get("spec")).get("target"))
        if idx.ns(doc) == namespace and str(target.get("name") or doc.name) == name and _templated(as_dict(target.get("template"))):
            return (f' (ExternalSecret "{doc.name}" sets target.template data/templateFrom without mergePolicy: Merge, '
                    "so the Secret holds only the templated keys, not those of spec.data/dataFrom)")
    return ""


def _renamed(idx: Index, kind: str, namespace: str, name: str) -> str:
    """A hint when an ExternalSecret of that name exists but writes a differently named target."""
    external = idx.get("ExternalSecret", namespace, name) if kind == "Secret" else None
    target = as_dict(as_dict(external.obj.get("spec")).get("target")).get("name") if external else None
    return f'; ExternalSecret "{name}" writes Secret "{target}" (spec.target.name)' if target else ""


def configmap_refs(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """configMapKeyRef, envFrom configMapRef and configMap volumes (incl. projected) resolve with their keys."""
    yield from _check_refs(idx, "ConfigMap", configmap_keys(idx), CONFIGMAP_REF, "ConfigMaps")


def secret_refs(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """secretKeyRef, envFrom secretRef, secret volumes (incl. projected) and imagePullSecrets resolve."""
    yield from _check_refs(
        idx, "Secret", secret_keys(idx), SECRET_REF, "Secrets, ExternalSecret targets, Certificates, SealedSecrets"
    )


def _service_account(template: PodTemplate) -> str:
    return str(template.spec.get("serviceAccountName") or template.spec.get("serviceAccount") or "default")


def service_accounts(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """A non-default serviceAccountName must exist as a ServiceAccount in the pod's namespace."""
    for template in idx.templates:
        name = _service_account(template)
        if name != "default" and idx.get("ServiceAccount", template.namespace, name) is None:
            yield SERVICE_ACCOUNT.violation(
                template.owner,
                f"serviceAccountName: {idx.absent('ServiceAccount', template.namespace, name)}; add it or fix the name",
            )


def _store_refs(doc: Document) -> Iterator[tuple[str, dict]]:
    """(field, storeRef) of an ExternalSecret: spec.secretStoreRef (when set, or needed by an entry with no
    sourceRef of its own) and each entry's sourceRef.storeRef (a sourceRef.generatorRef needs no store)."""
    spec = as_dict(doc.obj.get("spec"))
    entries = [("data", d) for d in dicts(spec.get("data"))] + [("dataFrom", d) for d in dicts(spec.get("dataFrom"))]
    own = [(f, as_dict(e.get("sourceRef"))) for f, e in entries]
    if "secretStoreRef" in spec or any(not ref.get("storeRef") and not ref.get("generatorRef") for _, ref in own):
        yield "spec.secretStoreRef", as_dict(spec.get("secretStoreRef"))
    for field, ref in own:
        if ref.get("storeRef") is not None:
            yield f"spec.{field}[].sourceRef.storeRef", as_dict(ref["storeRef"])


def secret_stores(idx: Index, inputs: Inputs) -> Iterator[Violation]:
    """secretStoreRef.name must be set; kind SecretStore (the default) must exist in the source, while a
    ClusterSecretStore is provided by the platform."""
    for doc in idx.of_kind("ExternalSecret"):
        for field, ref in _store_refs(doc):
            kind, name = str(ref.get("kind") or "SecretStore"), ref.get("name")
            if not name:
                yield SECRET_STORE.violation(doc, f"{field}.name is empty; name the (Cluster)SecretStore to read from")
            elif kind == "SecretStore" and idx.get(kind, idx.ns(doc), name) is None:
                yield SECRET_STORE.violation(
                    doc, f"{field}: {idx.absent(kind, idx.ns(doc), name)}; add it, or use kind: ClusterSecretStore"
                )


CHECKS = (configmap_refs, secret_refs, service_accounts, secret_stores)
