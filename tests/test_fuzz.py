"""Property-based fuzzing (Hypothesis) of the loader and the in-process stages over mutated manifests.

Whatever a pull request puts in a manifest, the harness answers with a finding or an InputError (one line,
exit 2), never an internal error. The manifests are the rendered production and blue-green overlays and the
small hand-written reference fixtures; a mutation deletes keys, replaces values by other types (null,
booleans, huge numbers, odd strings with control characters, lists, mappings, deep nesting), or puts one
field's value in another's place. Each mutated stream goes through the loader (as text, as the pipeline reads
it) and then the references stage, the timeline model of every Rollout (`gitops-check plan`) and the
AnalysisTemplate reading the promql stage and scripts/canary-analysis share.

The run is budgeted and reproducible: derandomized (a fixed seed per test), no example database, at most
FUZZ_EXAMPLES examples per test (GITOPS_CHECK_FUZZ_EXAMPLES raises it for a longer local run).
"""

from __future__ import annotations

import copy
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import FIXTURES
from gitops_check import analysis, loader, plan, references, timeline
from gitops_check import settings as gc_settings
from gitops_check.context import Context
from gitops_check.errors import InputError
from gitops_check.model import Source
from gitops_check.references.index import Index

FUZZ_EXAMPLES = int(os.environ.get("GITOPS_CHECK_FUZZ_EXAMPLES", "400"))

BUDGET = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

OVERLAYS = ("overlays/production", "tests/overlays/blue-green")

DEEP = "[" * 3000 + "]" * 3000
DEEP_JSON = '{"a":' * 3000 + "1" + "}" * 3000
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
ODD_STRINGS = (
    "", " ", "\x00", "\x1b[2J\x1b[H", "\u202e", "\r\n::error::x", "0", "-1", "1e309", "NaN", "-.inf", "~", "yes",
    "2024-01-01", "0x1F", "99999999999999999999999", "{{args.x}}", "{{", "10%", "150%", "-5s", "1h1h", "0s", "P1D",
    "1m30s", "🙂", "../../etc/passwd", "/", "http://x:99999", "[::1]:80", "a:b:c", "*", "[", "a.b.c", "\\", "'", '"',
    "x" * 300, "webhook-service", "canary", "stable", "metadata.labels['app']", "rate(x[5m])", "result[0] >= 0.9",
    # YAML and JSON that a ConfigMap value can hold (the references stage parses the ones pods read)
    DEEP, DEEP_JSON, BOMB, "redis: {host: redis.data.svc, port: 6379}", "url: http://db.other:5432/x", "- *undefined",
    "? [a]\n: b",
)


def _deep(depth: int) -> object:
    value: object = "leaf"
    for n in range(depth):
        value = [value] if n % 2 else {"k": value}
    return value


VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**63, -(2**63) - 1, 10**30]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(ODD_STRINGS),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12),
    st.lists(st.sampled_from(ODD_STRINGS + (None, 0, True)), max_size=3),
    st.dictionaries(st.sampled_from(("name", "value", "port", "weight", "x")), st.sampled_from(ODD_STRINGS + (None, 1)), max_size=3),
    st.integers(min_value=1, max_value=120).map(_deep),
)


IDENTITY = {("metadata", "name"), ("metadata", "namespace"), ("metadata", "generateName")}


def _paths(value: object, path: tuple = ()) -> list[tuple]:
    """Every (container path, key) of a document, in document order."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append(path + (key,))
            found += _paths(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.append(path + (i,))
            found += _paths(item, path + (i,))
    return found


def _get(value: object, path: tuple) -> object:
    for key in path:
        value = value[key]
    return value


def mutated(bases: list[list[dict]]) -> st.SearchStrategy[list[dict]]:
    """A copy of one base, with one to four mutations (the bases stay out of Hypothesis' reports)."""

    @st.composite
    def strategy(draw) -> list[dict]:
        docs = copy.deepcopy(bases[draw(st.integers(min_value=0, max_value=len(bases) - 1))])
        for _ in range(draw(st.integers(min_value=1, max_value=4))):
            doc = draw(st.sampled_from(docs))
            paths = _paths(doc)
            if draw(st.integers(min_value=0, max_value=9)):  # mostly below the identity the loader requires
                paths = [p for p in paths if len(p) > 1 and p[:2] not in IDENTITY]
            if not paths:
                continue
            path = draw(st.sampled_from(paths))
            parent, key = _get(doc, path[:-1]), path[-1]
            op = draw(st.sampled_from(("delete", "replace", "replace", "swap", "duplicate", "embedded")))
            if op == "embedded":  # inside YAML or JSON held by a string (a ConfigMap's config file, a dashboard)
                embedded = _embedded(parent[key])
                inner = _paths(embedded) if embedded is not None else []
                if inner:
                    inner_path = draw(st.sampled_from(inner))
                    _get(embedded, inner_path[:-1])[inner_path[-1]] = draw(VALUES)
                    parent[key] = json.dumps(embedded)
            elif op == "delete":
                del parent[key]
            elif op == "replace":
                parent[key] = draw(VALUES)
            elif op == "swap":  # another field's value in this place: plausible shapes in the wrong spot
                parent[key] = copy.deepcopy(_get(doc, draw(st.sampled_from(paths))))
            elif isinstance(parent, list):
                parent.append(copy.deepcopy(parent[key]))
            else:
                parent[f"{key}-copy" if isinstance(key, str) else key] = copy.deepcopy(parent[key])
        return docs

    return strategy()


def _embedded(value: object) -> object:
    """The mapping or list a string holds as JSON or YAML, else None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError):
        try:
            parsed = loader.safe_load(value, "embedded")
        except InputError:
            return None
    return parsed if isinstance(parsed, (dict, list)) else None


def _stream(docs: list[dict]) -> str:
    return "\n---\n".join(json.dumps(d, ensure_ascii=False) for d in docs if isinstance(d, dict))


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return Context(gc_settings.load(), tmp_path_factory.mktemp("fuzz"))


@pytest.fixture(scope="module")
def bases(rendered) -> list[list[dict]]:
    """The manifests mutations start from: the rendered overlays, and each hand-written reference fixture."""
    found = [[d.obj for d in rendered(overlay)] for overlay in OVERLAYS]
    for path in sorted((FIXTURES / "references").glob("*.yaml")):
        try:
            found.append([d.obj for d in loader.read_file(path)])
        except InputError:
            continue  # a fixture of a bad input: nothing to mutate
    return found


def _run_stages(text: str, ctx: Context) -> None:
    """The loader, then every in-process stage; only an InputError may come out."""
    try:
        docs = loader.parse(text, "fuzz.yaml")
    except InputError:
        return
    source = Source("fuzz.yaml", "file", docs)
    try:
        references.check([source], ctx)
        idx = Index(source)
        seconds = timeline.scrape_seconds(docs, ctx.settings.policies_dir)
        plans = [timeline.plan(idx, rollout, seconds) for rollout in idx.of_kind("Rollout")]
        report = plan.Report("fuzz.yaml", 900.0, "base/slo.yaml", plans)  # what `gitops-check plan` prints
        report.problems, plan.text(report), plan.as_json(report)
        if plans:
            plan.svg(plans[0], report.budget)
        analysis.rollout_args(docs)
        for doc in (d for d in docs if d.kind in analysis.ANALYSIS_KINDS):
            analysis.prometheus_metrics(doc)
            analysis.unresolved_args(doc)
    except InputError:
        return


def test_mutated_manifests_never_crash_the_stages(bases, ctx):
    @BUDGET
    @given(docs=mutated(bases))
    def run(docs):
        _run_stages(_stream(docs), ctx)

    run()


# Pieces of YAML syntax, joined at random: anchors, aliases, merges, complex keys, tags, flow and block
# collections, document markers, scalars Go's yaml.v2 and PyYAML read differently.
FRAGMENTS = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n", "data:\n", "  ", "- ", "? ", ": ", "\n", "&a ", "&b ", "*a",
    "*b", "<<: ", "<<", "[", "]", "{", "}", ", ", "!!int ", "!!str ", "!!binary ", "!!float ", "!!bool ", "!foo ", "! ",
    "'q'", '"\\x1b\\u0000"', "|\n  text\n", ">-\n  folded\n", "---\n", "...\n", "%YAML 1.1\n", "# c\n", "2024-01-01",
    "2001-12-14t21:59:43.10-05:00", "0x1F", "0o17", "1e3", "1_000", "1:30", ".inf", "-.nan", "~", "y", "on", "\t",
    "99999999999999999999999", "9" * 5000, "-0x" + "f" * 5000, "1e400", "key", "spec", "items", "kind: List\n", "\u202e", "\x85", "\ufeff",
)


@settings(BUDGET, max_examples=FUZZ_EXAMPLES * 3)  # sub-millisecond examples
@given(pieces=st.lists(st.sampled_from(FRAGMENTS), max_size=40))
def test_yaml_syntax_soup_is_loaded_or_refused(pieces):
    text = "".join(pieces)
    try:
        docs = loader.parse(text, "soup.yaml", require_kind=False)
    except InputError as exc:
        assert str(exc).startswith("soup.yaml") and "\n" not in str(exc)
        return
    for doc in docs:
        json.dumps(doc.obj, allow_nan=False)  # what the pipeline writes for the tools: plain JSON


@settings(BUDGET, max_examples=FUZZ_EXAMPLES * 3)
@given(data=st.data())
def test_text_edits_of_a_manifest_are_loaded_or_refused(data):
    text = (FIXTURES / "input" / "valid-configmap.yaml").read_text()
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        at = data.draw(st.integers(min_value=0, max_value=len(text)))
        piece = data.draw(st.one_of(st.text(max_size=8), st.sampled_from(FRAGMENTS)))
        cut = data.draw(st.integers(min_value=0, max_value=4))
        text = text[:at] + piece + text[at + cut:]
    try:
        docs = loader.parse(text, "edited.yaml")
    except InputError as exc:
        assert str(exc).startswith("edited.yaml") and "\n" not in str(exc)
        return
    for doc in docs:
        json.dumps(doc.obj, allow_nan=False)



# --------------------------------------------------------------------------- what the fuzzer found
# Crashes longer (unbudgeted) runs of the property above found, kept as plain examples.


def _production_with(rendered, change) -> str:
    docs = copy.deepcopy([d.obj for d in rendered("overlays/production")])
    for doc in docs:
        change(doc)
    return _stream(docs)


def test_found_an_inline_analysis_step_without_a_value(ctx):
    """timeline.py: `- analysis:` with an empty value has no AnalysisUse (StopIteration in a generator)."""
    for empty in (None, {}, "", 0, []):
        rollout = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "r"},
                   "spec": {"strategy": {"canary": {"steps": [{"setWeight": 10}, {"analysis": empty}, {"pause": {}}]}}}}
        _run_stages(json.dumps(rollout), ctx)


def test_found_an_application_path_no_file_system_takes(ctx):
    """references/argocd.py: a NUL byte or a name too long in source.path raised from the path checks."""
    for path in ("overlays/\x00production", "x" * 5000):
        app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "a", "namespace": "argocd"},
               "spec": {"project": "default", "source": {"repoURL": "https://example.invalid/r.git", "path": path},
                        "destination": {"server": "https://kubernetes.default.svc", "namespace": "x"}}}
        found = references.check([Source("app.yaml", "file", loader.parse(json.dumps(app), "app.yaml"))], ctx)
        assert "WH-REF-032" in {v.rule for v in found}


def test_found_a_container_port_name_that_is_a_mapping(rendered, ctx):
    """references/traffic.py: a port reached by number whose container port's name is a mapping (unhashable)."""

    def change(doc):
        if doc["kind"] == "Rollout":
            for port in doc["spec"]["template"]["spec"]["containers"][0]["ports"]:
                port["name"] = {"x": 1}
        elif doc["kind"] == "Service":
            for port in doc["spec"]["ports"]:
                port["targetPort"] = port["port"]

    _run_stages(_production_with(rendered, change), ctx)


def test_found_yaml_bombs_and_deep_nesting_in_a_config_file(rendered, ctx):
    """references/traffic.py parses the ConfigMap values pods read: with the loader's limits now (an alias
    bomb took minutes, nesting 5,000 deep raised RecursionError)."""
    for value in (BOMB, DEEP, DEEP_JSON):
        def change(doc, value=value):
            if doc["kind"] == "ConfigMap" and "config.yaml" in doc.get("data", {}):
                doc["data"]["config.yaml"] = value

        _run_stages(_production_with(rendered, change), ctx)
