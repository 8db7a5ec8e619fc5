"""Feature flags: flagd's schema from the pinned npm tarball (gitops_check/schemas/flagd.py), the WH-FLAG rules
(gitops_check/references/flags.py) and the per-environment flag files the overlays render.

One fixture per rule lives in tests/fixtures/references (test_references.py runs it); these tests cover the cases
around each rule, the cache the schema lives in, and the deployment."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from conftest import FIXTURES, REPO
from gitops_check import integrity, loader, references, render, settings
from gitops_check.context import Context
from gitops_check.errors import ToolError
from gitops_check.model import Document, Source
from gitops_check.references import flags
from gitops_check.schemas import cache, flagd
from gitops_check.settings import NpmPackage

HERE = FIXTURES / "references"
ENVS = ["overlays/staging", "overlays/production"]
# The WH-FLAG-003 fixture with the path fixed: a Deployment reading a flag ConfigMap, clean for every rule.
CLEAN = (HERE / "WH-FLAG-003.yaml").read_text().replace("value: /etc/flagd/flag.json", "value: /etc/flagd/flags.json")


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    fixed = dataclasses.replace(settings.load(), policies_dir=HERE / "policies")
    return Context(fixed, tmp_path_factory.mktemp("flags"))


def clean_docs() -> list[Document]:
    return loader.parse(CLEAN, "inline")


def of(docs: list[Document], kind: str) -> Document:
    (doc,) = [d for d in docs if d.kind == kind]
    return doc


def container(docs: list[Document]) -> dict:
    return of(docs, "Deployment").obj["spec"]["template"]["spec"]["containers"][0]


def set_flags(docs: list[Document], definitions: dict, key: str = "flags.json") -> list[Document]:
    of(docs, "ConfigMap").obj["data"] = {key: json.dumps(definitions)}
    return docs


def definitions(**flag) -> dict:
    base = {"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "off"}
    return {"$schema": flagd.FLAGS_ID, "flags": {"new-retry-backoff": {**base, **flag}}}


def found(ctx, docs: list[Document]) -> list[tuple[str, str]]:
    return [(v.rule, v.message) for v in references.check([Source("inline", "file", docs)], ctx)]


def rules(ctx, docs) -> list[str]:
    return sorted(r for r, _ in found(ctx, docs))


def test_the_clean_flag_fixture_is_clean(ctx):
    assert found(ctx, clean_docs()) == []


# --------------------------------------------------------------------------- WH-FLAG-001


@pytest.mark.parametrize("change, pointer, says", [
    ({"state": "ON"}, "/flags/new-retry-backoff/state", "'ON' is not one of ['ENABLED', 'DISABLED']"),
    ({"variants": {"on": True, "off": "no"}}, "/flags/new-retry-backoff/variants/off", "'no' is not of type 'boolean'"),
    ({"targeting": {"fractionl": [["on", 10], ["off", 90]]}}, "/flags/new-retry-backoff/targeting", "'fractionl' was unexpected"),
    ({"targeting": {"fractional": [["on", "ten"], ["off", 90]]}}, "/flags/new-retry-backoff/targeting/fractional/0/1", "'ten' is not of type 'number'"),
    ({"targeting": {"if": [{"sem_ver": [{"var": "version"}, ">==", "1.0.0"]}, "on", None]}},
     "/flags/new-retry-backoff/targeting/if/0/sem_ver/1", "'>==' is not one of"),
    ({"variants": None}, "/flags/new-retry-backoff", "fits more than one of Boolean flag, String flag"),
    ({"metadata": {"owner": ["team"]}}, "/flags/new-retry-backoff/metadata/owner", "is not of type 'string', 'number', 'boolean'"),
])
def test_a_definition_flagd_rejects_is_named_by_its_json_pointer(ctx, change, pointer, says):
    spec = definitions(**change)
    spec["flags"]["new-retry-backoff"] = {k: v for k, v in spec["flags"]["new-retry-backoff"].items() if v is not None}
    result = found(ctx, set_flags(clean_docs(), spec))
    assert [r for r, _ in result] == ["WH-FLAG-001"], result
    message = result[0][1]
    assert message.startswith(f"data['flags.json'] {pointer}: ") and says in message, message
    assert "@openfeature/flagd-core@" in message and "; " in message


def test_a_file_that_is_not_json_is_one_finding(ctx):
    docs = clean_docs()
    of(docs, "ConfigMap").obj["data"] = {"flags.json": '{"$schema": "https://flagd.dev/schema/v0/flags.json", "flags": {'}
    result = found(ctx, docs)
    assert [r for r, _ in result] == ["WH-FLAG-001"] and "is not JSON" in result[0][1]


def test_yaml_flag_files_are_read_as_yaml(ctx):
    docs = clean_docs()
    of(docs, "ConfigMap").obj["data"] = {"flags.yaml": yaml.safe_dump(definitions(state="ON"))}
    container(docs)["env"][1]["value"] = "/etc/flagd/flags.yaml"
    of(docs, "Deployment").obj["spec"]["template"]["spec"]["volumes"][0]["configMap"]["items"] = [{"key": "flags.yaml", "path": "flags.yaml"}]
    assert rules(ctx, docs) == ["WH-FLAG-001"]


def test_many_schema_errors_are_capped(ctx):
    spec = {"$schema": flagd.FLAGS_ID, "flags": {f"f{n}": {"state": "ON", "variants": {"on": True}, "defaultVariant": "on"} for n in range(8)}}
    result = found(ctx, set_flags(clean_docs(), spec))
    assert [r for r, _ in result] == ["WH-FLAG-001"] * flags.MAX_FINDINGS
    assert "(and 3 more)" in result[-1][1]


def test_the_real_flag_files_validate_against_the_pinned_schema():
    judge = flagd.load(settings.load()).validator()
    for path in [REPO / "base/flags/flags.json", *(REPO / env / "flags.json" for env in ENVS)]:
        assert list(judge.iter_errors(json.loads(path.read_text()))) == [], path


# --------------------------------------------------------------------------- WH-FLAG-002


@pytest.mark.parametrize("change, says", [
    ({"defaultVariant": "of"}, "defaultVariant 'of' is not one of its variants (off, on)"),
    ({"targeting": {"if": [{"==": [{"var": "tenantId"}, "qa"]}, "onn", None]}}, 'can return "onn"'),
    ({"targeting": {"if": [{"==": [{"var": "a"}, "b"]}, "on", {"==": [{"var": "c"}, "d"]}, "off", "of"]}}, 'can return "of"'),
    ({"targeting": {"if": [{"==": [{"var": "a"}, "b"]}, {"fractional": [["on", 50], ["offf", 50]]}, None]}}, 'can return "offf"'),
    ({"targeting": {"if": [{"==": [{"var": "a"}, "b"]}, True, False]}}, "can return true"),
    ({"targeting": {"if": [{"$ref": "internal-tenant"}, "on", None]}}, "targeting $ref 'internal-tenant' names no $evaluators entry"),
])
def test_a_variant_or_evaluator_that_does_not_exist_is_found(ctx, change, says):
    result = found(ctx, set_flags(clean_docs(), definitions(**change)))
    assert {r for r, _ in result} == {"WH-FLAG-002"}, result
    assert says in result[0][1], result[0][1]


@pytest.mark.parametrize("change", [
    {"defaultVariant": None},  # flagd 1.2.0's schema: null means the code default
    {"targeting": {"if": [{"==": [{"var": "a"}, "b"]}, "on", None]}},
    {"targeting": {"fractional": [{"var": "endpointId"}, ["on", 20], ["off", 80]]}},
    {"targeting": {"if": [{"==": [{"var": "a"}, "b"]}, {"var": "variant"}, "off"]}},  # computed: only known at evaluation
    {"variants": {"true": True, "false": False}, "defaultVariant": "false",
     "targeting": {"if": [{"==": [{"var": "a"}, "b"]}, True, False]}},  # booleans name "true"/"false"
])
def test_variants_that_exist_or_cannot_be_known_are_quiet(ctx, change):
    assert found(ctx, set_flags(clean_docs(), definitions(**change))) == []


def test_evaluators_resolve_and_a_misspelled_top_level_key_is_found(ctx):
    spec = definitions(targeting={"if": [{"$ref": "internal"}, "on", None]})
    spec["$evaluators"] = {"internal": {"in": [{"var": "tenantId"}, ["company-internal"]]}}
    assert found(ctx, set_flags(clean_docs(), spec)) == []
    spec["$evaluators"]["chained"] = {"and": [{"$ref": "internl"}, True]}
    assert "$evaluators 'chained': $ref 'internl'" in found(ctx, set_flags(clean_docs(), spec))[0][1]
    typo = {"$schema": flagd.FLAGS_ID, "flag": definitions()["flags"]}
    messages = [m for r, m in found(ctx, set_flags(clean_docs(), typo)) if r == "WH-FLAG-002"]
    assert len(messages) == 2 and "top-level key 'flag'" in messages[0] and "defines no flags" in messages[1]


# --------------------------------------------------------------------------- WH-FLAG-003


def test_the_file_resolver_is_required_to_read_the_path(ctx):
    docs = clean_docs()
    container(docs)["env"] = [e for e in container(docs)["env"] if e["name"] != "FLAGD_RESOLVER"]
    result = found(ctx, docs)
    assert [r for r, _ in result] == ["WH-FLAG-003"] and "FLAGD_RESOLVER is unset (rpc)" in result[0][1]
    container(docs)["env"].append({"name": "FLAGD_RESOLVER", "value": "rpc"})
    assert "FLAGD_RESOLVER=rpc" in found(ctx, docs)[0][1]
    container(docs)["env"][-1] = {"name": "FLAGD_RESOLVER", "value": "in-process"}
    assert found(ctx, docs) == []
    container(docs)["env"][-1] = {"name": "FLAGD_RESOLVER", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    assert found(ctx, docs) == []  # not known before the pod runs


@pytest.mark.parametrize("edit, says", [
    (lambda c, p: c["env"][1].update(value="etc/flagd/flags.json"), "is not an absolute path"),
    (lambda c, p: c.update(volumeMounts=[]), "no volumeMount of the container covers it"),
    (lambda c, p: p["volumes"].__setitem__(0, {"name": "flags", "emptyDir": {}}), "is not a configMap volume"),
    (lambda c, p: c["volumeMounts"][0].update(name="flagz"), "names no volume of the pod"),
    (lambda c, p: c["env"][1].update(value="/etc/flagd"), "it is the folder volume 'flags' is mounted at"),
])
def test_a_path_that_leads_to_no_mounted_key_is_found(ctx, edit, says):
    docs = clean_docs()
    pod = of(docs, "Deployment").obj["spec"]["template"]["spec"]
    edit(container(docs), pod)
    result = [(r, m) for r, m in found(ctx, docs) if r.startswith("WH-FLAG")]
    assert {r for r, _ in result} == {"WH-FLAG-003"}, result
    assert any(says in m for _, m in result), result


@pytest.mark.parametrize("volume, mount", [
    ({"name": "flags", "configMap": {"name": "web-flags"}}, {"name": "flags", "mountPath": "/etc/flagd"}),  # every key
    ({"name": "flags", "configMap": {"name": "web-flags"}}, {"name": "flags", "mountPath": "/etc/flagd/flags.json", "subPath": "flags.json"}),
    ({"name": "flags", "projected": {"sources": [{"configMap": {"name": "web-flags", "items": [{"key": "flags.json", "path": "flags.json"}]}}]}},
     {"name": "flags", "mountPath": "/etc/flagd"}),
])
def test_every_way_of_mounting_the_key_is_followed(ctx, volume, mount):
    docs = clean_docs()
    pod = of(docs, "Deployment").obj["spec"]["template"]["spec"]
    pod["volumes"], container(docs)["volumeMounts"] = [volume], [mount]
    assert found(ctx, docs) == []
    set_flags(docs, definitions(state="ON"))
    assert rules(ctx, docs) == ["WH-FLAG-001"]  # and the file it reads is the one judged


def test_a_missing_configmap_is_wh_ref_023_not_a_flag_finding(ctx):
    docs = [d for d in clean_docs() if d.kind != "ConfigMap"]
    assert rules(ctx, docs) == ["WH-REF-023"]
    for volume in of(docs, "Deployment").obj["spec"]["template"]["spec"]["volumes"]:
        volume["configMap"].pop("items")
    assert rules(ctx, docs) == ["WH-REF-023"]


def test_a_flag_configmap_nobody_reads_is_found(ctx):
    docs = clean_docs()
    container(docs)["env"] = []
    result = found(ctx, docs)
    assert [r for r, _ in result] == ["WH-FLAG-003"] and "no container of this source reads" in result[0][1]
    of(docs, "ConfigMap").obj["data"]["flags.json"] = json.dumps({"flags": {}})  # no $schema: not a flag file
    assert found(ctx, docs) == []


# --------------------------------------------------------------------------- the schema cache


@pytest.fixture
def cache_without_flagd(tmp_path) -> Path:
    """A cache holding everything the real one does (as symlinks) but the flagd schema."""
    real = settings.load()
    copy_dir = tmp_path / "cache"
    (copy_dir / "schemas").mkdir(parents=True)
    for entry in (real.cache_dir / "schemas").iterdir():
        if not entry.name.startswith("flagd-"):
            (copy_dir / "schemas" / entry.name).symlink_to(entry)
    for name in ("tools", "seeds"):
        if (real.cache_dir / name).exists():
            (copy_dir / name).symlink_to(real.cache_dir / name)
    return copy_dir


def test_a_source_without_flags_needs_no_prepared_schema(ctx, tmp_path, cache_without_flagd):
    empty = Context(dataclasses.replace(ctx.settings, cache_dir=cache_without_flagd), tmp_path / "work")
    docs = loader.read_file(HERE / "clean.yaml")
    assert references.check([Source("clean.yaml", "file", docs)], empty) == []
    with pytest.raises(ToolError, match=r"flagd schema @openfeature/flagd-core@.* not found in .*: run `make tools`"):
        references.check([Source("inline", "file", clean_docs())], empty)


def test_the_pin_is_the_sha256_of_the_npm_tarball_and_the_cache_is_keyed_by_it():
    s = settings.load()
    pin = s.flagd_schema
    assert pin.name == "@openfeature/flagd-core" and len(pin.sha256) == 64
    schemas = flagd.load(s)
    assert schemas.folder == flagd.folder(s) and schemas.folder.name.startswith(f"flagd-{pin.version}-{pin.sha256[:12]}-")
    assert REPO not in schemas.folder.parents, "the schema is never in the clone"
    marker = json.loads((schemas.folder / cache.MARKER).read_text())
    assert marker["tarball-sha256"] == pin.sha256 and marker["version"] == pin.version
    assert (schemas.flags["$id"], schemas.targeting["$id"]) == (flagd.FLAGS_ID, flagd.TARGETING_ID)
    assert not list(REPO.glob("**/targeting.json")), "flagd's schema is never committed"


BUNDLE = """'use strict';
var core = require('@openfeature/core');

var $id$1 = "https://flagd.dev/schema/v0/flags.json";
var $schema$1 = 'http://json-schema.org/draft-07/schema#';
/* rollup's JSON plugin */
var flagsSchema = FLAGS;
var $id = "https://flagd.dev/schema/v0/targeting.json";
var targetingSchema = TARGETING;

const validate = ajv.addSchema(targetingSchema).compile(flagsSchema);
"""


def _package(tmp_path: Path, version: str = "9.9.9", bundle: str | None = None) -> tuple[Path, NpmPackage]:
    """A tarball shaped like flagd-core's, embedding the real schemas: JSON is a JavaScript literal."""
    real = flagd.load(settings.load())
    text = bundle or BUNDLE.replace("FLAGS", json.dumps(real.flags, indent=1)).replace("TARGETING", json.dumps(real.targeting))
    out = tmp_path / f"openfeature-flagd-core-{version}.tgz"
    with tarfile.open(out, "w:gz") as tar:
        for name, data in (("package/package.json", json.dumps({"name": "@openfeature/flagd-core", "version": version})),
                           ("package/index.cjs.js", text)):
            info = tarfile.TarInfo(name)
            info.size = len(data.encode())
            tar.addfile(info, io.BytesIO(data.encode()))
    return out, NpmPackage("@openfeature/flagd-core", version, integrity.sha256(out))


@pytest.fixture
def packaged(tmp_path, monkeypatch):
    tarball, pin = _package(tmp_path)
    fetched = []

    def fake_fetch(p, dest):
        fetched.append(p)
        return Path(shutil.copy(tarball, dest))

    monkeypatch.setattr(flagd, "fetch", fake_fetch)
    s = dataclasses.replace(settings.load(), cache_dir=tmp_path / "cache", flagd_schema=pin)
    return s, fetched


def test_prepare_extracts_both_schemas_and_a_damaged_cache_is_one_line_until_make_tools(packaged):
    s, fetched = packaged
    with pytest.raises(ToolError, match="run `make tools`"):
        flagd.load(s)
    folder = flagd.prepare(s, repair=True)
    real = flagd.load(settings.load())
    loaded = flagd.load(s)
    assert (loaded.flags, loaded.targeting) == (real.flags, real.targeting) and len(fetched) == 1
    assert flagd.prepare(s, repair=True) == folder and len(fetched) == 1, "a good cache is not fetched again"
    (folder / "targeting.json").write_text((folder / "targeting.json").read_text().replace('"string"', '"number"', 1))
    with pytest.raises(ToolError, match=r"schema cache damaged: .*targeting\.json.*run `make tools` to rebuild it"):
        flagd.load(s)
    flagd.prepare(s, repair=True)
    assert flagd.load(s).targeting == real.targeting and len(fetched) == 2


def test_a_tarball_that_is_not_the_pinned_one_is_refused(packaged):
    s, _ = packaged
    wrong = dataclasses.replace(s, flagd_schema=dataclasses.replace(s.flagd_schema, sha256="0" * 64))
    with pytest.raises(ToolError, match=r"the tarball has sha256 [0-9a-f]{64}, pyproject.toml pins 0{64}"):
        flagd.prepare(wrong, repair=True)
    assert not flagd.folder(wrong).exists()


def test_a_bundle_without_the_schemas_or_with_a_broken_one_is_refused(tmp_path, monkeypatch):
    for bundle, says in (("'use strict';\nconst x = 1;\n", "no flags.json or targeting.json schema literal"),
                         (BUNDLE.replace("FLAGS", '{"$id": $id$1, "$schema": $schema$1, "type": "object", '
                                         '"properties": {"flags": {"$ref": "./targeting.json#/definitions/nothing"}}}')
                          .replace("TARGETING", '{"$id": $id, "$schema": $schema$1, "definitions": {}}'),
                          "refers to ./targeting.json#/definitions/nothing, which neither schema defines")):
        tarball, pin = _package(tmp_path, bundle=bundle)
        monkeypatch.setattr(flagd, "fetch", lambda p, dest: Path(shutil.copy(tarball, dest)))
        s = dataclasses.replace(settings.load(), cache_dir=tmp_path / "cache", flagd_schema=pin)
        with pytest.raises(ToolError, match=says):
            flagd.prepare(s, repair=True)


def test_the_literal_parser_reads_rollup_output_and_stops_at_code():
    text = """var $id$1 = "https://flagd.dev/schema/v0/flags.json";
var kind = 'object';
var props = {
\tflags: {type: kind, "pattern": "^.{1,}$", 'n': -1.5e2, list: [true, false, null,], nested: {}},
\t"$comment": "it\\u2019s \\"quoted\\"\\n"
};
var flagsSchema = {$id: $id$1, $schema: "http://json-schema.org/draft-07/schema#", properties: props};
var $id = "https://flagd.dev/schema/v0/targeting.json";
var targetingSchema = {$id: $id, $schema: "http://json-schema.org/draft-07/schema#"};
function notALiteral() { return {$id: "https://flagd.dev/schema/v0/flags.json", $schema: "x"}; }
"""
    found = flagd.extract(text, "test")
    assert found[flagd.FLAGS_ID]["properties"] == {
        "flags": {"type": "object", "pattern": "^.{1,}$", "n": -150.0, "list": [True, False, None], "nested": {}},
        "$comment": 'it\u2019s "quoted"\n',
    }
    assert found[flagd.TARGETING_ID] == {"$id": flagd.TARGETING_ID, "$schema": "http://json-schema.org/draft-07/schema#"}


def _fake_npm(tmp_path: Path, monkeypatch, body: str) -> None:
    """An `npm` first on PATH that runs `body` (toolchain.locate finds npm on PATH, as the Debian package installs it)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text("#!/bin/sh\n" + body)
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


def test_npm_pack_is_bounded_by_a_timeout(tmp_path, monkeypatch):
    _fake_npm(tmp_path, monkeypatch, "exec sleep 30\n")
    monkeypatch.setattr(flagd, "NPM_TIMEOUT", 1)
    pin = NpmPackage("@openfeature/flagd-core", "1.2.0", "0" * 64)
    with pytest.raises(ToolError, match=r"npm pack @openfeature/flagd-core@1.2.0: no result after 1s"):
        flagd.fetch(pin, tmp_path)


def test_npm_pack_asks_for_exactly_the_pinned_version_and_runs_no_script(tmp_path, monkeypatch):
    args = tmp_path / "args"
    _fake_npm(tmp_path, monkeypatch, f'echo "$@" > {args}\nwhile [ "$1" != --pack-destination ]; do shift; done\n'
                                     'echo data > "$2/openfeature-flagd-core-1.2.0.tgz"\necho "[]"\n')
    dest = tmp_path / "dest"
    dest.mkdir()
    pin = NpmPackage("@openfeature/flagd-core", "1.2.0", "0" * 64)
    assert flagd.fetch(pin, dest) == dest / "openfeature-flagd-core-1.2.0.tgz"
    said = args.read_text().split()
    assert said[:2] == ["pack", "@openfeature/flagd-core@1.2.0"] and "--ignore-scripts" in said


def test_validate_without_the_prepared_schema_exits_2_with_make_tools(cache_without_flagd):
    """Everything but the flagd schema is prepared: validation stops with one line, and no finding."""
    proc = subprocess.run([sys.executable, "-m", "gitops_check", "validate", "--offline", "overlays/staging"],
                          capture_output=True, text=True, cwd=REPO, timeout=300,
                          env=dict(os.environ, GITOPS_CHECK_CACHE_DIR=str(cache_without_flagd)))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gitops-check: error: ") and "run `make tools`" in lines[0], proc.stderr
    assert "WH-" not in proc.stdout + proc.stderr


# --------------------------------------------------------------------------- the deployment


def flag_set(docs) -> tuple[Document, dict]:
    (cm,) = [d for d in docs if d.kind == "ConfigMap" and d.name.startswith("webhook-service-flags-")]
    return cm, json.loads(cm.obj["data"]["flags.json"])


def defaults(spec: dict) -> dict:
    return {name: flag["variants"][flag["defaultVariant"]] for name, flag in spec["flags"].items()}


@pytest.mark.parametrize("overlay", ENVS)
def test_each_environment_reads_its_own_hashed_flag_configmap(overlay, rendered, find, ctx):
    docs = rendered(overlay)
    cm, spec = flag_set(docs)
    assert len(cm.name) == len("webhook-service-flags-") + 10, "the hash suffix is kept: a flag change rolls the pods"
    assert spec["metadata"]["environment"] == overlay.rsplit("/", 1)[1]
    assert cm.obj["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "-1"
    pod = find(docs, "Rollout").obj["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    env_ = {e["name"]: e.get("value") for e in c["env"]}
    assert env_["FLAGD_RESOLVER"] == "file" and env_["FLAGD_OFFLINE_FLAG_SOURCE_PATH"] == "/etc/flagd/flags.json"
    volumes = {v["name"]: v for v in pod["volumes"]}
    (mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == "/etc/flagd"]
    assert mount["readOnly"] is True and volumes[mount["name"]]["configMap"]["name"] == cm.name
    assert [v for v in references.check([Source(overlay, "overlay", docs)], ctx) if v.rule.startswith("WH-FLAG")] == []


def test_staging_runs_more_new_behaviour_than_production_and_base_defaults_are_off(rendered):
    staging, production = (defaults(flag_set(rendered(o))[1]) for o in ENVS)
    base = defaults(json.loads((REPO / "base/flags/flags.json").read_text()))
    assert set(staging) == set(production) == set(base), "every environment defines every flag"
    assert not any(v is True for v in base.values())
    assert all(staging[name] for name, value in production.items() if value is True)
    changed = lambda env: {n for n in base if env[n] != base[n]}  # noqa: E731
    assert changed(production) < changed(staging)
    _, prod_spec = flag_set(rendered("overlays/production"))
    assert prod_spec["flags"]["new-retry-backoff"]["targeting"]["fractional"], "production rolls new behaviour out by fraction"


def test_a_flag_change_is_a_new_configmap_name_in_the_pod_template(tmp_path):
    copy_root = tmp_path / "repo"
    shutil.copytree(REPO / "base", copy_root / "base")
    shutil.copytree(REPO / "overlays" / "production", copy_root / "overlays" / "production")

    def names() -> tuple[str, str]:
        docs = render.documents(copy_root / "overlays" / "production", "copy")
        (rollout,) = [d for d in docs if d.kind == "Rollout"]
        volumes = {v["name"]: v for v in rollout.obj["spec"]["template"]["spec"]["volumes"]}
        return flag_set(docs)[0].name, volumes["flags"]["configMap"]["name"]

    before = names()
    flags_file = copy_root / "overlays" / "production" / "flags.json"
    spec = json.loads(flags_file.read_text())
    spec["flags"]["payload-compression"]["defaultVariant"] = "on"
    flags_file.write_text(json.dumps(spec, indent=2))
    after = names()
    assert before[0] == before[1] and after[0] == after[1] and before[0] != after[0]
    flags_file.write_text((REPO / "overlays" / "production" / "flags.json").read_text())  # the revert
    assert names() == before, "a revert gives back the previous name: the previous pod template"


@pytest.mark.parametrize("key, value", [
    ("flags.json", '{"$schema": "https://flagd.dev/schema/v0/flags.json", "flags": ' + "[" * 100_000 + "]" * 100_000 + "}"),
    ("flags.json", json.dumps({"$schema": flagd.FLAGS_ID, "flags": {"f": {
        "state": "ENABLED", "variants": {"on": True}, "defaultVariant": "on",
        "targeting": json.loads('{"if": [true, ' * 400 + '"on"' + ", null]}" * 400)}}})),
    ("flags.yaml", "$schema: " + flagd.FLAGS_ID + "\na: &a [x, x, x, x, x, x, x, x, x]\n"
     + "".join(f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi"))),
])
def test_bombs_and_deep_nesting_in_a_flag_file_are_findings_not_crashes(ctx, key, value):
    docs = clean_docs()
    of(docs, "ConfigMap").obj["data"] = {key: value}
    container(docs)["env"][1]["value"] = f"/etc/flagd/{key}"
    of(docs, "Deployment").obj["spec"]["template"]["spec"]["volumes"][0]["configMap"]["items"] = [{"key": key, "path": key}]
    assert set(rules(ctx, docs)) <= {"WH-FLAG-001", "WH-FLAG-002"} and rules(ctx, docs)
