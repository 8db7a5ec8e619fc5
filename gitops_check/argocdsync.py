"""How Argo CD syncs: which Applications sync what, the order it applies a sync's objects in, and its
sync options.

Order (gitops-engine, sync_tasks.go): sync wave, then kind, then name. Known kinds go in kindOrder's order;
every other kind (all custom resources) ranks the same, after them, so among custom resources only the name
decides, and objects with the same wave, rank and name are applied in an unspecified order. The server
stage, the end-to-end sync and the references rules all use this one model."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from .errors import InputError
from .loader import MAX_EXPANDED, Expansion
from .model import Document

SYNC_WAVE = "argocd.argoproj.io/sync-wave"
SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
KIND_ORDER = (
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy", "PodDisruptionBudget",
    "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass", "PersistentVolume",
    "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
    "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
    "ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job",
    "CronJob", "IngressClass", "Ingress", "APIService",
)
_RANK = {kind: i - len(KIND_ORDER) for i, kind in enumerate(KIND_ORDER)}  # unknown kinds: 0, the last


def wave(doc: Document) -> int:
    try:
        return int(str((doc.metadata.get("annotations") or {}).get(SYNC_WAVE, "0")).strip())
    except (ValueError, AttributeError):
        return 0


def key(doc: Document) -> tuple[int, int, str]:
    """What Argo CD compares: (wave, kind rank, name)."""
    return wave(doc), _RANK.get(doc.kind, 0), doc.name


def sync_order(docs: list[Document]) -> list[Document]:
    """Documents in the order Argo CD applies them (ties, which Argo CD leaves unspecified, by kind)."""
    return sorted(docs, key=lambda d: (*key(d), d.kind))


def surely_before(first: Document, then: Document) -> bool:
    """True when Argo CD applies `first` before `then` whatever its sort does with ties."""
    return key(first) < key(then)


def sync_options(options: object) -> dict[str, str]:
    """`Name=value` sync options, from an Application's syncPolicy.syncOptions list or an object's
    sync-options annotation (a comma-separated string)."""
    if isinstance(options, str):
        options = options.split(",")
    pairs = (str(o).split("=", 1) for o in (options if isinstance(options, list) else []))
    return {p[0].strip(): p[1].strip() for p in pairs if len(p) == 2}


# --------------------------------------------------------------------------- Applications

# An ApplicationSet's template is filled once per list element, every field of it, and every check reads every
# Application made: past MAX_GENERATED Applications or MAX_TEMPLATE_WORK fields and placeholders (list elements × the
# template's) for the ApplicationSets of one source, or MAX_TEMPLATED_CHARS characters of templated text for one, the
# ApplicationSet is refused (exit 2) before it is filled. 3,000 elements of a template of 3,000 `{{x}}` took 37 s;
# 10,000 Applications take the references stage about 2 s.
MAX_GENERATED = 10_000
MAX_TEMPLATE_WORK = 500_000
MAX_TEMPLATED_CHARS = 64 * 1024 * 1024
# What Go's strings.TrimSpace trims (unicode.IsSpace): fasttemplate tags are looked up trimmed by it. Python's
# str.strip() would also trim \x1c..\x1f.
GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
# A goTemplate action gitops-check fills: a plain field chain (`{{ .a.b }}`), read through nested mappings as
# text/template reads map[string]any. Anything else (functions, pipes, conditions, trim markers, comments) is not.
GO_FIELD_CHAIN = re.compile(r"[ \t\r\n]*((?:\.[A-Za-z_][A-Za-z0-9_]*)+)[ \t\r\n]*")
# Go's fmt prints a JSON number (float64) in %e form from 1e6 on: only smaller integers are filled as written.
GO_PLAIN_INTEGER = 10 ** 6


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


@dataclass
class App:
    """An Application spec: a real Application, or one rendered from an ApplicationSet list element."""

    doc: Document  # the Application or ApplicationSet, where findings are reported
    label: str  # "" for an Application, "list element N: " for ApplicationSet elements
    spec: dict
    meta: dict  # the Application's metadata (for an ApplicationSet: the substituted template's)
    # Generated Applications: (field, template text) of every template string its element does not fill as Argo CD
    # would (field relative to the Application: "spec.source.path"); such a field is not what Argo CD generates.
    unfilled: tuple[tuple[str, str], ...] = ()
    element: int | None = None  # the list element a generated Application is made from

    def source_fields(self) -> list[tuple[str, dict]]:
        """(field, source) for what Argo CD syncs (ApplicationSpec.GetSources): `sources` when it lists any (then
        `source` is ignored), else `source`. A sourceHydrator (which replaces both) is reported apart."""
        sources = self.spec.get("sources")
        if isinstance(sources, list) and sources:
            return [(f"spec.sources[{i}]", s) for i, s in enumerate(sources) if isinstance(s, dict)]
        source = self.spec.get("source")
        return [("spec.source", source)] if isinstance(source, dict) and source else []

    def sources(self) -> list[dict]:
        return [source for _, source in self.source_fields()]

    @property
    def destination(self) -> dict:
        return _dict(self.spec.get("destination"))

    @property
    def options(self) -> dict[str, str]:
        return sync_options(_dict(self.spec.get("syncPolicy")).get("syncOptions"))

    @property
    def name(self) -> str:
        return str(self.meta.get("name") or "")


def go_template(appset: Document) -> bool:
    """The ApplicationSet renders its template with Go's text/template (spec.goTemplate), else with fasttemplate."""
    return _dict(appset.obj.get("spec")).get("goTemplate") is True


def list_elements(appset: Document) -> list[dict]:
    """The literal elements of the ApplicationSet's list generators, in order."""
    spec = _dict(appset.obj.get("spec"))
    return [e for g in _dicts(spec.get("generators")) for e in _dicts(_dict(g.get("list")).get("elements"))]


def fast_params(element: dict) -> dict[str, str]:
    """What Argo CD's list generator makes of an element without goTemplate (generators/list.go): every string value
    by its key, and each string of a `values` mapping as `values.KEY`. A value of another type fails the generator in
    Argo CD; here it fills nothing."""
    params: dict[str, str] = {}
    for key, value in element.items():
        if key == "values":
            params.update((f"values.{k}", v) for k, v in _dict(value).items() if isinstance(v, str))
        elif isinstance(value, str):
            params[str(key)] = value
    return params


def _go_value(element: dict, chain: str) -> str | None:
    """text/template's `{{.a.b}}` over map[string]any: each name a key of a nested mapping (never a key with a dot),
    printed as fmt prints it; None when it is missing or printed otherwise than written (mappings, lists, floats)."""
    value: Any = element
    for name in chain[1:].split("."):
        if not isinstance(value, dict) or name not in value:
            return None
        value = value[name]
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and -GO_PLAIN_INTEGER < value < GO_PLAIN_INTEGER:
        return str(value)
    return None


def _fast_templated(text: str) -> bool:
    """Argo CD's isTemplatedRegex `.*{{.*}}.*` (no '.' across a newline): some line holds `{{` and a `}}` after it."""
    for line in text.split("\n"):
        start = line.find("{{")
        if start >= 0 and line.find("}}", start + 2) >= 0:
            return True
    return False


def fill(text: str, element: dict, params: dict[str, str] | None,
         budget: Expansion | None = None) -> tuple[str, bool]:
    """(what Argo CD makes of TEXT for ELEMENT, whether gitops-check filled all of it). PARAMS: the fasttemplate
    parameters (fast_params), None for goTemplate. fasttemplate (utils.go Render.Replace): each `{{tag}}` up to the
    next `}}` is looked up by its trimmed tag as a key, literally (`{{.path}}` reads the key ".path"); an unknown one
    is left as written. goTemplate: plain field chains only. Linear in the text; what each placeholder adds counts
    against BUDGET as it is added."""
    if "{{" not in text:
        return text, True
    if params is not None and not _fast_templated(text):
        return text, False  # Argo CD leaves it as written; gitops-check reports the braces
    out: list[str] = []
    pos, complete = 0, True
    while True:
        start = text.find("{{", pos)
        if start < 0:
            break
        end = text.find("}}", start + 2)
        if end < 0:
            return text, False  # fasttemplate refuses it ("cannot find end tag"), text/template too
        tag = text[start + 2:end]
        if params is not None:
            key = tag.strip(GO_SPACE)
            value = params.get(key) if key else None
        else:
            m = GO_FIELD_CHAIN.fullmatch(tag)
            value = _go_value(element, m.group(1)) if m else None
        if value is None:
            complete = False
            out.append(text[pos:end + 2])
        else:
            if budget is not None:
                _spend(budget, len(value) - (end + 2 - start))
            out.append(text[pos:start])
            out.append(value)
        pos = end + 2
    out.append(text[pos:])
    return "".join(out), complete


def template_size(value: Any) -> tuple[int, int, int]:
    """(fields, placeholders, characters of text holding `{{`) of a template: the work of filling it once."""
    fields = placeholders = chars = 0
    stack = [value]
    while stack:
        item = stack.pop()
        fields += 1
        if isinstance(item, str):
            if "{{" in item:
                placeholders += item.count("{{")
                chars += len(item)
        elif isinstance(item, dict):
            for k, v in item.items():
                if isinstance(k, str) and "{{" in k:
                    placeholders += k.count("{{")
                stack.append(v)
        elif isinstance(item, list):
            stack.extend(item)
    return fields, placeholders, chars


@dataclass
class TemplateBudget:
    """What filling the ApplicationSet templates of one source may still cost (argocdsync.applications): Applications
    made, and substitutions (list elements × the fields and placeholders of their template); past either, or past
    MAX_TEMPLATED_CHARS characters of templated text for one ApplicationSet, an InputError (exit 2) before it is filled."""

    applications: int = MAX_GENERATED
    substitutions: int = MAX_TEMPLATE_WORK

    def spend(self, appset: Document, count: int) -> None:
        if not count:
            return
        template = _dict(_dict(appset.obj.get("spec")).get("template"))
        fields, placeholders, chars = (sum(n) for n in zip(*(template_size(template.get(p)) for p in ("metadata", "spec"))))
        what = f"{appset.source}: {appset.ref}"
        work = count * (fields + placeholders)
        if count > self.applications:
            raise InputError(
                f"{what}: {count:,} list elements make more Applications than "
                f"{_left(self.applications, MAX_GENERATED, 'Applications')} gitops-check judges per source: refused")
        if work > self.substitutions:
            raise InputError(
                f"{what}: {count:,} list elements × a template of {fields:,} fields and {placeholders:,} placeholders "
                f"are more than {_left(self.substitutions, MAX_TEMPLATE_WORK, 'substitutions')} gitops-check makes per "
                "source: refused")
        if count * chars > MAX_TEMPLATED_CHARS:
            raise InputError(
                f"{what}: {count:,} list elements × {chars:,} characters of templated text are more than "
                f"{MAX_TEMPLATED_CHARS:,} characters: refused")
        self.applications -= count
        self.substitutions -= work


def _left(left: int, maximum: int, what: str) -> str:
    """"the 500,000 substitutions", or what the source's other ApplicationSets left of them."""
    if left == maximum:
        return f"the {maximum:,} {what}"
    return f"the {left:,} {what} the source's other ApplicationSets leave of the {maximum:,}"


def substitute(value: Any, element: dict, budget: Expansion, params: dict[str, str] | None = None,
               where: str = "", unfilled: list[tuple[str, str]] | None = None) -> Any:
    """Fill an ApplicationSet template from one list element as Argo CD does (fill; PARAMS: fasttemplate's, None for
    goTemplate). What the placeholders add counts against BUDGET (the ApplicationSet's, every element together); the
    (field, text) of what is not filled goes to UNFILLED. Mapping keys are never filled: one with `{{` is unfilled."""
    if isinstance(value, str):
        if "{{" not in value:
            return value
        filled, complete = fill(value, element, params, budget)
        if not complete and unfilled is not None:
            unfilled.append((where, value))
        return filled
    if isinstance(value, dict):
        result = {}
        for k, v in value.items():
            field = f"{where}.{k}" if where else str(k)
            if unfilled is not None and isinstance(k, str) and "{{" in k:
                unfilled.append((field, k))
            result[k] = substitute(v, element, budget, params, field, unfilled)
        return result
    if isinstance(value, list):
        return [substitute(v, element, budget, params, f"{where}[{i}]", unfilled) for i, v in enumerate(value)]
    return value


def _spend(budget: Expansion, added: int) -> None:
    """What one placeholder added, against the ApplicationSet's Expansion budget (as Expansion.sub counts it)."""
    budget.left -= added
    if budget.left < 0:
        raise InputError(f"{budget.what}: its placeholders add more than {MAX_EXPANDED:,} characters: refused")


def generate(appset: Document, spent: TemplateBudget | None = None) -> Iterator[App]:
    """The Applications an ApplicationSet's list generators produce from spec.template, filled as Argo CD fills it
    (spec.goTemplate chooses the mode); refused past the template budget (SPENT: the source's)."""
    spec = _dict(appset.obj.get("spec"))
    template = _dict(spec.get("template"))
    elements = list_elements(appset)
    (spent or TemplateBudget()).spend(appset, len(elements))
    budget = Expansion(f"{appset.source}: {appset.ref}")
    gotemplate = go_template(appset)
    for i, element in enumerate(elements):
        params = None if gotemplate else fast_params(element)
        unfilled: list[tuple[str, str]] = []
        meta = substitute(_dict(template.get("metadata")), element, budget, params, "metadata", unfilled)
        app_spec = substitute(_dict(template.get("spec")), element, budget, params, "spec", unfilled)
        yield App(appset, f"list element {i}: ", app_spec, _dict(meta), tuple(unfilled), i)


def applications(docs: Iterable[Document]) -> Iterator[App]:
    """Every Application, and every Application an ApplicationSet list generator produces."""
    docs = list(docs)
    for doc in docs:
        if doc.kind == "Application":
            yield App(doc, "", _dict(doc.obj.get("spec")), doc.metadata)
    spent = TemplateBudget()
    for doc in docs:
        if doc.kind == "ApplicationSet":
            yield from generate(doc, spent)


def local_sources(app: App) -> Iterator[tuple[str, dict]]:
    """(path, source) for the sources Argo CD renders from this repository: every source without a Helm `chart`,
    its `path` as Argo CD reads it (none: the repository's root, "") but a multi-source `ref` without a path (only
    referenced by the others). A generated Application's path its element does not fill is left out (WH-REF-056
    reports it); an Application's own path is literal, braces and all (Argo CD templates no Application)."""
    unfilled = {field for field, _ in app.unfilled}
    multiple = isinstance(app.spec.get("sources"), list) and bool(app.spec.get("sources"))
    for field, source in app.source_fields():
        if source.get("chart"):
            continue
        path = source.get("path")
        if path is None or path == "":
            if multiple and source.get("ref"):
                continue
            path = ""
        if not isinstance(path, str) or f"{field}.path" in unfilled:
            continue
        yield path, source


def overlay_dir(repo_root: Path, path: str) -> Path | None:
    """The folder an Application's source path names in the repository (None when it points outside)."""
    root = repo_root.resolve()
    target = (root / path.strip().lstrip("/")).resolve()
    return target if target.is_relative_to(root) else None
