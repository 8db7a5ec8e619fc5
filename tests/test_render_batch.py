"""kustomize-batch (render.render_many, what the pipeline renders overlays with) gives exactly what
`kustomize build` parsed by the loader gives: the same objects, in the same order, at the same lines, and the
same one-line errors; a remote reference is still refused before any kustomize runs."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from gitops_check import pipeline, render, runner, settings, toolchain
from gitops_check.errors import InputError, ToolError
from test_no_network import SECRET, listener  # noqa: F401 (a fixture)

WIDGET = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n"


def overlay(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def one(folder: Path, resource: str) -> Path:
    """An overlay of one resource file."""
    return overlay(folder, {"kustomization.yaml": "resources:\n  - r.yaml\n", "r.yaml": resource})


def as_loader_gives(path: Path, source: str, s: settings.Settings) -> list[tuple]:
    """(source, line, object) of every document: loader.parse of `kustomize build`, the reference."""
    return [(d.source, d.line, d.obj) for d in render.documents(path, source, s)]


def batched(rendered: render.Rendered) -> list[tuple]:
    assert rendered.error is None, rendered.error
    return [(d.source, d.line, d.obj) for d in rendered.documents]


def repository_overlays(s: settings.Settings) -> list[tuple[Path, str]]:
    return [(p, shown) for p, shown, _ in pipeline.resolve_targets([], s)]


def test_kustomize_batch_is_kustomize_at_the_pinned_version():
    tools = settings.load().tools
    assert tools["kustomize-batch"].module == tools["kustomize"].module
    assert tools["kustomize-batch"].version == tools["kustomize"].version


def test_every_overlay_of_the_repository_renders_as_kustomize_build_and_the_loader_give():
    s = settings.load()
    overlays = repository_overlays(s)
    assert len(overlays) >= 9 and any(shown == "argocd" for _, shown in overlays)
    expected = [as_loader_gives(p, shown, s) for p, shown in overlays]
    assert [batched(r) for r in render.render_many(overlays, s)] == expected
    # all of them in one process, twice over: nothing one build leaves behind changes the next
    batch = toolchain.locate("kustomize-batch", s)
    assert [batched(r) for r in render._batch(batch, overlays * 2, s)] == expected * 2


def test_an_openapi_schema_one_overlay_selects_does_not_leak_into_the_next(tmp_path):
    """kyaml keeps the schema of a kustomization's `openapi` field in process-wide state: without a reset,
    the overlay built after it would merge its patch with that schema."""
    schema = {"definitions": {"v1.Widget": {
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {"ports": {
            "type": "array", "items": {"type": "object"},
            "x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge"}}}},
        "x-kubernetes-group-version-kind": [{"group": "example.com", "kind": "Widget", "version": "v1"}]}}}
    files = {"r.yaml": WIDGET + "spec:\n  ports:\n    - name: a\n      port: 1\n",
             "p.yaml": WIDGET + "spec:\n  ports:\n    - name: b\n      port: 2\n"}
    kustomization = "resources:\n  - r.yaml\npatches:\n  - path: p.yaml\n"
    plain = overlay(tmp_path / "plain", {**files, "kustomization.yaml": kustomization})
    typed = overlay(tmp_path / "typed", {**files, "schema.json": json.dumps(schema),
                                         "kustomization.yaml": kustomization + "openapi:\n  path: schema.json\n"})
    s = settings.load()
    overlays = [(typed, "typed"), (plain, "plain"), (typed, "typed"), (plain, "plain")]
    expected = [as_loader_gives(p, shown, s) for p, shown in overlays]
    assert expected[0] != expected[1]  # the schema matters: merged by name, or replaced
    batch = toolchain.locate("kustomize-batch", s)
    assert [batched(r) for r in render._batch(batch, overlays, s)] == expected


def test_an_overlay_that_fails_among_good_ones_is_its_own_error(tmp_path):
    s = settings.load()
    bad = overlay(tmp_path / "bad", {"kustomization.yaml": "resources:\n  - missing.yaml\n"})
    worse = one(tmp_path / "worse", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n")
    good = [(REPO / "overlays/staging", "overlays/staging"), (REPO / "argocd", "argocd")]
    overlays = [good[0], (bad, "bad"), good[1], (worse, "worse")]
    rendered = render.render_many(overlays, s)
    assert [r.source for r in rendered] == ["overlays/staging", "bad", "argocd", "worse"]
    for (path, shown), r in zip(good, (rendered[0], rendered[2])):
        assert batched(r) == as_loader_gives(path, shown, s)
    for (path, shown), r in ((overlays[1], rendered[1]), (overlays[3], rendered[3])):
        with pytest.raises(InputError) as alone:
            render.documents(path, shown, s)
        assert type(r.error) is InputError and str(r.error) == str(alone.value)
        assert str(r.error).startswith(f"{shown}: kustomize build failed: ") and "\n" not in str(r.error)
    with pytest.raises(InputError, match="^bad: kustomize build failed: "):
        render.documents_many(overlays, s)
    targets = [(p, shown, "overlay") for p, shown in overlays]
    with pytest.raises(InputError, match="^bad: kustomize build failed: "):  # the first that fails wins
        pipeline.render_targets(targets, s)
    targets = [(REPO / "base/slo.yaml", "base/slo.yaml", "file")] + targets
    assert [src.name for src in pipeline.render_targets(targets[:2] + targets[3:4], s)] == [
        "base/slo.yaml", "overlays/staging", "argocd"]


def test_a_remote_reference_is_refused_before_any_kustomize_runs(tmp_path, listener, monkeypatch):  # noqa: F811
    remote = f"resources:\n  - {listener.url}/org/repo.git?timeout=3600\n"
    evil = overlay(tmp_path / "evil", {"kustomization.yaml": remote})
    ran = []
    monkeypatch.setattr(runner, "run", lambda cmd, **kw: ran.append(cmd))
    overlays = [(REPO / "overlays/staging", "overlays/staging"), (evil, "evil")]
    with pytest.raises(InputError) as refused:
        render.render_many(overlays, settings.load())
    message = str(refused.value)
    assert "evil/kustomization.yaml:2: resources entry" in message and SECRET not in message
    assert ran == [] and listener.accepted == []


def test_validate_refuses_a_remote_reference_among_good_overlays(tmp_path, listener):  # noqa: F811
    evil = overlay(tmp_path / "evil", {"kustomization.yaml": f"resources:\n  - {listener.url}/deploy.yaml\n"})
    proc = subprocess.run([sys.executable, "-m", "gitops_check", "validate", "--offline", "overlays/staging",
                           str(evil)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and "kustomization.yaml:2: resources entry" in proc.stderr
    assert SECRET not in proc.stdout + proc.stderr and listener.accepted == []


# Plain scalars YAML 1.1 (sigs.k8s.io/yaml, the loader) and YAML 1.2 (kustomize's kyaml) read differently,
# passed through kustomize: what it prints is then read by both.
ODD = """
  yes: yes
  no: No
  on: on
  y: y
  hex: 0x10
  octal: 0o17
  oldoctal: 017
  under: 1_000
  exp: 1e3
  float: 3.0
  half: 1.5
  big: 9223372036854775808
  tilde: ~
  empty:
  date: 2024-01-01
  ts: 2024-01-01T10:00:00Z
  time: 1:30
  sexagesimal: 190:20:30
  binary: !!binary aGVsbG8=
  str: !!str 123
  overflow: 1e400
  small: 1e-7
  e21: 1e21
  plus: +12
  dot: .5
  list: [yes, 0x1F, ~, 1e3, "no"]
  nel: "a\\Nb\\u2028c"
"""


def test_odd_scalars_come_out_as_the_loader_reads_them(tmp_path):
    s = settings.load()
    path = one(tmp_path / "odd", WIDGET + "spec:" + ODD)
    [rendered] = render.render_many([(path, "odd")], s)
    assert batched(rendered) == as_loader_gives(path, "odd", s)
    spec = rendered.documents[0].obj["spec"]
    assert [spec[k] for k in ("yes", "no", "hex", "exp", "tilde", "float")] == ["yes", "No", 16, 1000, None, 3]
    assert [spec[k] for k in ("date", "time", "overflow")] == ["2024-01-01T00:00:00Z", "1:30", "1e400"]
    assert spec["list"] == ["yes", 31, None, 1000, "no"]
    assert spec["nel"] == "a b\u2028c"  # kustomize prints a NEL as a line break (read back: a space); U+2028 stays


HUGE = WIDGET + "spec:\n  huge: 18446744073709551616\n  neg: -9223372036854775809\n"


def test_a_whole_float_beyond_2_53_is_the_integer_of_its_digits(tmp_path):
    """kustomize prints 1.8446744073709552e+19: after sigs.k8s.io/yaml and Go's encoding/json, what Argo CD sends
    is the integer of those digits."""
    [rendered] = render.render_many([(one(tmp_path / "huge", HUGE), "huge")], settings.load())
    assert rendered.documents[0].obj["spec"] == {"huge": 18446744073709552000, "neg": -9223372036854776000}


# A known difference (the Go component is the truth): the loader makes such a float its exact binary value
# (18446744073709551616, -9223372036854775808).
def test_a_whole_float_beyond_2_53_comes_out_as_the_loader_reads_it(tmp_path):
    s = settings.load()
    path = one(tmp_path / "huge", HUGE)
    [rendered] = render.render_many([(path, "huge")], s)
    assert batched(rendered) == as_loader_gives(path, "huge", s)


@pytest.mark.parametrize("text", [
    WIDGET + "spec:\n  true: x\n",  # kyaml keeps a key `true` a boolean: its JSON encoding fails
    WIDGET + "spec:\n  x: .inf\n",  # JSON has no infinity
    "apiVersion: v1\nkind: ConfigMap\n",  # no name: kustomize refuses it itself
], ids=["key-true", "inf", "no-name"])
def test_what_kustomize_refuses_is_the_same_error(tmp_path, text):
    s = settings.load()
    path = one(tmp_path / "o", text)
    [rendered] = render.render_many([(path, "o")], s)
    with pytest.raises(InputError) as alone:
        render.documents(path, "o", s)
    assert str(rendered.error) == str(alone.value)


@pytest.mark.parametrize("text, says", [
    (WIDGET.replace("apiVersion: example.com/v1\n", ""), "o:1: document (w) has no apiVersion"),
    (WIDGET.replace("example.com/v1", "1"), "o:1: apiVersion and kind must be strings"),
    (WIDGET + "  namespace: 5\n", "o:1: Widget metadata.namespace is a number, not a string"),
    (WIDGET + "spec: [1]\n", "o:1: Widget w: spec is a sequence, not a mapping"),
], ids=["no-apiVersion", "apiVersion-number", "namespace-number", "spec-sequence"])
def test_the_loaders_refusals_still_apply(tmp_path, text, says):
    """What kustomize builds but the loader refuses is refused the same way."""
    s = settings.load()
    path = one(tmp_path / "o", text)
    [rendered] = render.render_many([(path, "o")], s)
    with pytest.raises(InputError, match=f"^{re.escape(says)}$"):
        render.documents(path, "o", s)
    assert str(rendered.error) == says


def test_nesting_too_deep_is_refused_at_the_documents_line(tmp_path):
    s = settings.load()
    path = one(tmp_path / "o", WIDGET + "spec: " + "{a: " * 100 + "1" + "}" * 100 + "\n")
    [rendered] = render.render_many([(path, "o")], s)
    # the loader names the line of the node too deep, kustomize-batch's reading the line of its document
    with pytest.raises(InputError, match="^o:105: nesting deeper than 100 levels: refused$"):
        render.documents(path, "o", s)
    assert str(rendered.error) == "o:1: nesting deeper than 100 levels: refused"
    path = one(tmp_path / "ok", WIDGET + "spec: " + "{a: " * 99 + "1" + "}" * 99 + "\n")
    assert batched(render.render_many([(path, "ok")], s)[0]) == as_loader_gives(path, "ok", s)


def test_an_overlay_of_no_resources_is_the_loaders_error(tmp_path):
    path = overlay(tmp_path / "empty", {"kustomization.yaml": "resources: []\n"})
    [rendered] = render.render_many([(path, "empty")], settings.load())
    assert str(rendered.error) == "empty: no Kubernetes objects found (empty file or only comments)"


def test_lists_are_flattened_at_the_line_of_the_list(tmp_path):
    s = settings.load()
    items = "".join(f"  - apiVersion: v1\n    kind: ConfigMap\n    metadata:\n      name: c{i}\n" for i in range(3))
    path = overlay(tmp_path / "o", {"kustomization.yaml": "resources:\n  - a.yaml\n  - l.yaml\n",
                                     "a.yaml": WIDGET, "l.yaml": "apiVersion: v1\nkind: List\nitems:\n" + items})
    [rendered] = render.render_many([(path, "o")], s)
    assert batched(rendered) == as_loader_gives(path, "o", s)
    assert len(rendered.documents) >= 2


FAKE = """#!/bin/sh
# a stand-in kustomize-batch: a ConfigMap per DIR; dies at a DIR named crash, hangs at one named hang
for dir in "$@"; do
  case "$dir" in
    *crash) echo "fatal: kustomize stopped at $dir" >&2; exit 1 ;;
    *hang) sleep 30 ;;
  esac
  doc='{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}'
  echo '{"overlay": "'"$dir"'", "documents": [{"line": 1, "object": '"$doc"'}]}'
done
"""


def fake_batch(tmp_path: Path) -> str:
    script = tmp_path / "kustomize-batch"
    script.write_text(FAKE)
    script.chmod(0o755)
    return str(script)


def test_the_overlays_after_one_kustomize_died_on_are_still_built(tmp_path):
    overlays = [(tmp_path / name, name) for name in ("a", "crash", "b", "c")]
    rendered = render._batch(fake_batch(tmp_path), overlays, settings.load())
    assert [r.source for r in rendered] == ["a", "crash", "b", "c"]
    assert str(rendered[1].error) == f"crash: kustomize build failed: fatal: kustomize stopped at {tmp_path / 'crash'}"
    assert [[d.name for d in r.documents] for r in rendered] == [["c"], [], ["c"], ["c"]]


def test_a_batch_that_hangs_is_stopped_and_named(tmp_path):
    s = dataclasses.replace(settings.load(), tool_timeout_seconds=0.5)
    overlays = [(tmp_path / name, name) for name in ("a", "hang", "b")]
    rendered = render._batch(fake_batch(tmp_path), overlays, s)  # tool-timeout-seconds bounds the whole process
    assert all(r.error is rendered[0].error for r in rendered)
    assert isinstance(rendered[0].error, ToolError)
    assert str(rendered[0].error).startswith("a (and 2 more overlays built with it): kustomize-batch gave no answer "
                                             "within 0.5s (setting tool-timeout-seconds)")
