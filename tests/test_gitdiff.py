"""`gitops-check validate --changed REF` and `gitops-check diff`, on a real temporary git repository made from this
one's committed files (plus the working tree's Makefile, which holds `make diff`): the targets a change affects are
found by walking each kustomization graph, the rendered diff shows exactly the changed objects, and a Secret's
values never appear in it."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import REPO
from gitops_check import gitdiff, settings
from gitops_check.errors import InputError

PLANTED = ("planted-Sup3rS3cret-value", "planted-T0ken-value", "planted-R0tated-value")
GIT = ("git", "-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false")
HPA = "autoscaling/v2 HorizontalPodAutoscaler webhook-service/webhook-service"
SECRET = """apiVersion: v1
kind: Secret
metadata:
  name: planted
type: Opaque
stringData:
  password: {password}
data:
  api-token: {token}
"""


def _run(cmd, cwd, timeout=120, **kw):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, **kw)


def _commit(root: Path, message: str) -> str:
    assert _run([*GIT, "add", "-A"], root).returncode == 0
    proc = _run([*GIT, "commit", "-q", "-m", message], root)
    assert proc.returncode == 0, proc.stderr
    return _run(["git", "rev-parse", "HEAD"], root).stdout.strip()


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path}: {old!r} not found"
    path.write_text(text.replace(old, new, 1))


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """commits: base, (a) base HPA minReplicas, (b) a staging-only patch, (c) a policy, (d) a staging Secret
    added, (e) its value rotated."""
    root = tmp_path_factory.mktemp("gitdiff") / "repo"
    root.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "HEAD"], capture_output=True, timeout=120, check=True)
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, timeout=120, check=True)
    shutil.copy(REPO / "Makefile", root / "Makefile")
    assert _run(["git", "init", "-q", "-b", "main"], root).returncode == 0
    c = {"base": _commit(root, "base")}
    _edit(root / "base/hpa.yaml", "minReplicas: 3", "minReplicas: 4")
    c["hpa"] = _commit(root, "base: minReplicas 4")
    _edit(root / "overlays/staging/kustomization.yaml", "value: 5", "value: 6")
    c["staging"] = _commit(root, "staging: maxReplicas 6")
    with open(root / "policies/analysis.rego", "a") as f:
        f.write("\n# a policy change\n")
    c["policy"] = _commit(root, "policy")
    token = base64.b64encode(PLANTED[1].encode()).decode()
    (root / "overlays/staging/secret.yaml").write_text(SECRET.format(password=PLANTED[0], token=token))
    _edit(root / "overlays/staging/kustomization.yaml", "  - ../../base\n", "  - ../../base\n  - secret.yaml\n")
    c["secret"] = _commit(root, "staging: a Secret")
    _edit(root / "overlays/staging/secret.yaml", PLANTED[0], PLANTED[2])
    c["rotated"] = _commit(root, "staging: the Secret rotated")
    return root, c


def _names(root: Path, targets) -> set[str]:
    return {Path(t).resolve().relative_to(root.resolve()).as_posix() for t in targets}


def _all_targets(root: Path) -> set[str]:
    return _names(root, gitdiff.targets(settings.load(root)))


def _env() -> dict:
    import os

    return {**os.environ, "GITOPS_CHECK_CRDS_DIR": str(settings.load(REPO).crds_dir)}


def _cli(root: Path, *args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    # -P: the harness under test (this checkout's, installed editable), not the copy committed in the repository
    return _run([*prefix, sys.executable, "-P", "-m", "gitops_check", "--repo", str(root), *args], root,
                timeout=300, env=_env())


def test_base_change_affects_every_overlay(repo):
    root, c = repo
    overlays = {t for t in _all_targets(root) if t != "argocd"}
    assert "overlays/staging" in overlays and "overlays/production" in overlays
    assert _names(root, gitdiff.affected(root, c["base"], c["hpa"], settings.load(root))) == overlays


def test_staging_patch_affects_only_staging(repo):
    root, c = repo
    assert _names(root, gitdiff.affected(root, c["hpa"], c["staging"], settings.load(root))) == {"overlays/staging"}


def test_policy_change_affects_everything(repo):
    root, c = repo
    found = _names(root, gitdiff.affected(root, c["staging"], c["policy"], settings.load(root)))
    assert found == _all_targets(root) and "argocd" in found


def test_changed_nothing_to_check(repo):
    root, _ = repo
    proc = _cli(root, "validate", "--changed", "HEAD", "--offline")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith("gitops-check: nothing to check"), proc.stdout


def test_changed_validates_only_affected(repo):
    root, _ = repo
    proc = _cli(root, "validate", "--changed", "HEAD~1", "--offline", "--format", "junit")
    assert proc.returncode in (0, 1), proc.stderr
    suites = {s.get("name") for s in ET.fromstring(proc.stdout).iter("testsuite")}
    assert "overlays/staging" in suites
    assert not suites & (_all_targets(root) - {"overlays/staging"}), suites


def test_bad_ref_is_bad_input(repo):
    root, _ = repo
    proc = _cli(root, "diff", "--base", "no-such-ref")
    assert proc.returncode == 2 and "no-such-ref" in proc.stderr and "Traceback" not in proc.stderr


def test_diff_shows_exactly_the_changed_objects(repo):
    root, c = repo
    diffs = gitdiff.diff(root, c["base"], c["hpa"], settings.load(root))
    assert {d.name for d in diffs} == {t for t in _all_targets(root) if t != "argocd"}
    assert all(not d.base.error and not d.head.error for d in diffs)
    # region-eu renames and moves it (nameSuffix, namespace): the same HPA, under its own name
    assert all(not d.added and not d.removed and all(" HorizontalPodAutoscaler " in k for k in d.changed) for d in diffs)
    assert sum(len(d.changed) for d in diffs) == len(diffs) - 1
    production = next(d for d in diffs if d.name == "overlays/production")
    assert production.changed == [HPA]
    assert "-  minReplicas: 3\n+  minReplicas: 4" in production.patches[HPA]
    staging = next(d for d in diffs if d.name == "overlays/staging")
    assert not staging.patches  # staging sets its own minReplicas: affected, but the rendered HPA is the same

    proc = _cli(root, "diff", "--base", c["hpa"], "--head", c["staging"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("+  maxReplicas: 6") == 1 and "=== overlays/staging: 0 added, 0 removed, 1 changed" in proc.stdout
    assert proc.stdout.rstrip().endswith("1 target(s) affected; 0 added, 0 removed, 1 changed")


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_diff_redacts_secrets(repo, fmt):
    root, c = repo
    added = _cli(root, "diff", "--base", c["policy"], "--head", c["secret"], "--format", fmt)
    rotated = _cli(root, "diff", "--base", c["secret"], "--head", c["rotated"], "--format", fmt)
    for proc in (added, rotated):
        assert proc.returncode == 0, proc.stderr
        assert "<redacted sha256:" in proc.stdout
        assert "v1 Secret" in proc.stdout
        for value in PLANTED + (base64.b64encode(PLANTED[1].encode()).decode(),):
            assert value not in proc.stdout and value not in proc.stderr
    assert "1 added, 0 removed, 0 changed" in added.stdout
    assert "0 added, 0 removed, 1 changed" in rotated.stdout  # the rotation shows, as a changed digest
    if fmt == "markdown":
        assert rotated.stdout.startswith(gitdiff.MARKER) and "<details><summary>overlays/staging" in rotated.stdout


def test_markdown_is_size_capped():
    big = gitdiff.Side({"v1 ConfigMap x/big": "data:\n" + "".join(f"  k{i}: {'v' * 80}\n" for i in range(2000))})
    diffs = [gitdiff.compare(f"overlays/t{i}", gitdiff.Side(), big) for i in range(3)]
    out = gitdiff.markdown(diffs, "main", None)
    assert len(out) <= gitdiff.MARKDOWN_LIMIT and out.startswith(gitdiff.MARKER) and "Truncated" in out


def test_redaction_of_secret_looking_values():
    obj = {"kind": "Deployment", "spec": {"env": [{"name": "DB_PASSWORD", "value": "pw1"}, {"name": "LOG", "value": "info"}],
                                          "url": "https://user:pw2@example.com/x", "apiKey": "pw3",
                                          "secretKeyRef": {"name": "creds", "key": "password"}}}
    out = str(gitdiff.redact(obj))
    assert not any(v in out for v in ("pw1", "pw2", "pw3"))
    assert "info" in out and "creds" in out and "'key': 'password'" in out
    # what WH-SEC-002/003 judge a credential was shown: *_PASS and connection-string env vars, a ConfigMap key
    # DB_PASS, a `db.password=` line in a value, and a Secret's values in its last-applied-configuration
    env = [{"name": "DB_PASS", "value": "pw4"}, {"name": "DB_CONNECTION_STRING", "value": "Server=db;Password=pw5"},
           {"name": "dbPass", "value": "pw6"}, {"name": "BYPASS_CACHE", "value": "yes"}]
    config = {"kind": "ConfigMap", "data": {"DB_PASS": "pw7", "app.properties": "db.host=x\ndb.password=pw8\n", "ok": "1"}}
    secret = {"kind": "Secret", "metadata": {"name": "s", "annotations": {gitdiff._LAST_APPLIED: '{"stringData":{"pw":"pw9"}}',
                                                                          "team": "payments"}},
              "stringData": {"pw": "pw9"}}
    out = str([gitdiff.redact({"env": env}), gitdiff.redact(config), gitdiff.redact(secret, in_secret=True)])
    assert not any(f"pw{n}" in out for n in range(4, 10)), out
    assert "'yes'" in out and "'1'" in out and "payments" in out and "'name': 's'" in out


def test_make_diff_offline(repo):
    """`make diff BASE=HEAD~1` with the network unplugged (a network namespace of its own)."""
    root, _ = repo
    assert _run(["unshare", "-rn", "true"], root, timeout=10).returncode == 0, "unshare -rn (make e2e needs it too)"
    venv = Path(sys.executable).parent.parent
    proc = _run(["unshare", "-rn", "make", "diff", "BASE=HEAD~1", f"VENV={venv}", f"PYTHON={sys.executable}"], root,
                timeout=600, env=_env())
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "=== overlays/staging: 0 added, 0 removed, 1 changed" in proc.stdout
    assert not any(v in proc.stdout for v in PLANTED)


def test_rendered_output_nested_too_deep_is_one_line_on_its_side_not_a_crash():
    """The rendered YAML went through PyYAML's recursive loader: 600 levels were an internal error of `diff`."""
    deep = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  x: " + "[" * 600 + "]" * 600 + "\n"
    with pytest.raises(InputError, match=r"^overlays/x:6: nesting deeper than 100 levels: refused$"):
        gitdiff._objects(deep, "overlays/x")


def test_names_from_the_pull_request_stay_on_their_line():
    """An overlay folder or an object named with a newline started `::error`/`::add-mask::` lines (GitHub Actions
    workflow commands) and moved the terminal's cursor, in text and in markdown."""
    key = "v1 ConfigMap ns/c\n::add-mask::x\n::error file=README.md::forged\x1b[2K\x1b[1A"
    added = gitdiff.compare("overlays/x\n::error::by-folder", gitdiff.Side(present=False), gitdiff.Side({key: "a: b\n"}))
    broken = gitdiff.compare("overlays/y", gitdiff.Side(error="overlays/y: bad\n::error::by-error"), gitdiff.Side())
    for out in (gitdiff.text([added, broken], "base", None), gitdiff.markdown([added, broken], "base", None)):
        assert not any(line.lstrip().startswith("::") for line in out.splitlines()), out
        assert "\x1b" not in out and "overlays/x\\n::error::by-folder" in out and "\\n::add-mask::x" in out


def test_an_object_too_long_to_diff_line_by_line_is_counted():
    """difflib is quadratic on repeating lines: one object of 120,000 shuffled list items took 94 s."""
    items = [f"    - v{i % 101}\n" for i in range(gitdiff.MAX_DIFF_LINES + 1)]
    old = "spec:\n  items:\n" + "".join(items)
    new = "spec:\n  items:\n" + "".join(reversed(items))
    d = gitdiff.compare("overlays/big", gitdiff.Side({"v1 Thing ns/t": old}), gitdiff.Side({"v1 Thing ns/t": new}))
    assert d.changed == ["v1 Thing ns/t"]
    assert d.patches["v1 Thing ns/t"].splitlines()[-1] == "@@ 5,003 lines before, 5,003 after: more than 5,000, not diffed line by line @@"


# -- materializing a commit: the checkout's bytes, not git archive's ---------------------------------------------
def _tiny(tmp_path: Path, files: dict[str, str], attributes: str = "") -> tuple[Path, str]:
    root = tmp_path / "tiny"
    root.mkdir()
    assert _run(["git", "init", "-q", "-b", "main"], root).returncode == 0
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    commit = _commit(root, "tiny")
    if attributes:  # after the files: what `git add` would do with them is not the point
        (root / ".gitattributes").write_text(attributes)
        assert _run([*GIT, "add", ".gitattributes"], root).returncode == 0
        assert _run([*GIT, "commit", "-q", "-m", "attributes"], root).returncode == 0
        commit = _run(["git", "rev-parse", "HEAD"], root).stdout.strip()
    return root, commit


def test_materialize_writes_the_blobs_git_archive_would_rewrite_or_leave_out(tmp_path):
    """`git archive` applies the tree's own export-subst and export-ignore: a `$Format:...$` in a kustomize patch
    target, or a patch file left out, made diff render something other than Argo CD's checkout."""
    root, _ = _tiny(tmp_path, {"o/kustomization.yaml": "name: webhook-servic[$Format:%e$x]\n", "o/hidden.yaml": "a: 1\n",
                               "run.sh": "#!/bin/sh\n"},
                    "o/kustomization.yaml export-subst\no/hidden.yaml export-ignore\n* text eol=lf\n")
    (root / "o/up").symlink_to("../o")
    os.chmod(root / "run.sh", 0o755)
    commit = _commit(root, "link and mode")
    archived = subprocess.run(["git", "-C", str(root), "archive", commit], capture_output=True, timeout=120, check=True)
    names = subprocess.run(["tar", "-t"], input=archived.stdout, capture_output=True, timeout=60, check=True).stdout
    assert b"o/hidden.yaml" not in names  # what the old materialize extracted
    tree = gitdiff.materialize(root, commit, tmp_path / "tree")
    assert (tree / "o/kustomization.yaml").read_bytes() == b"name: webhook-servic[$Format:%e$x]\n"
    assert (tree / "o/hidden.yaml").read_bytes() == b"a: 1\n"
    assert os.readlink(tree / "o/up") == "../o" and os.access(tree / "run.sh", os.X_OK)
    assert not os.access(tree / "o/hidden.yaml", os.X_OK)


@pytest.mark.parametrize("attributes, text, why", [
    ("*.yaml ident\n", "name: x-$Id$\n", "ident"),
    ("*.yaml text eol=crlf\n", "a: 1\n", "eol=crlf"),
    ("*.yaml working-tree-encoding=UTF-16\n", "a: 1\n", "working-tree-encoding=UTF-16"),
])
def test_materialize_refuses_what_a_checkout_would_rewrite(tmp_path, attributes, text, why):
    """A checkout applies ident, eol=crlf and working-tree-encoding from the tree's .gitattributes: its bytes are
    not the blob's, so diff would judge something else than Argo CD syncs."""
    root, commit = _tiny(tmp_path, {"o/k.yaml": text}, attributes)
    with pytest.raises(InputError, match=rf"^{commit[:12]}: o/k.yaml: its .gitattributes set {why}\b"):
        gitdiff.materialize(root, commit, tmp_path / "tree")


def test_materialize_refuses_a_submodule_and_a_link_out_of_the_tree(tmp_path):
    root, _ = _tiny(tmp_path, {"a.yaml": "a: 1\n"}, "*.yaml ident\n")  # ident without $Id$ rewrites nothing
    (root / "out").symlink_to("../../etc")
    commit = _commit(root, "a link out")
    with pytest.raises(InputError, match=r": out: a symbolic link out of the tree \(\.\./\.\./etc\): refused$"):
        gitdiff.materialize(root, commit, tmp_path / "t1")
    (root / "out").unlink()
    oid = _run(["git", "rev-parse", "HEAD"], root).stdout.strip()
    assert _run(["git", "update-index", "--add", "--cacheinfo", f"160000,{oid},sub"], root).returncode == 0
    proc = _run([*GIT, "commit", "-q", "-m", "a submodule"], root)
    assert proc.returncode == 0, proc.stderr
    commit = _run(["git", "rev-parse", "HEAD"], root).stdout.strip()
    with pytest.raises(InputError, match=r": sub: a git submodule, whose content Argo CD's checkout fetches"):
        gitdiff.materialize(root, commit, tmp_path / "t2")


def test_materialize_never_fetches_a_missing_blob(tmp_path):
    """A partial clone fetches a blob it lacks from its promisor remote when asked for it: not here."""
    root, _ = _tiny(tmp_path, {"a.yaml": "a: 1\n"})
    assert _run(["git", "config", "uploadpack.allowFilter", "true"], root).returncode == 0
    clone = tmp_path / "clone"
    proc = _run(["git", "clone", "-q", "--no-checkout", "--filter=blob:none", f"file://{root}", str(clone)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    commit = gitdiff.resolve(clone, "HEAD")
    with pytest.raises(InputError, match="could not fetch"):
        gitdiff.materialize(clone, commit, tmp_path / "tree")
    assert _run(["git", "cat-file", "-e", "HEAD:a.yaml"], clone, env={"GIT_NO_LAZY_FETCH": "1"}).returncode != 0


def test_inputs_hold_every_symbolic_link_on_the_way(tmp_path):
    """overlays/p names `upstream`, a link to a link to the folder it builds: repointing either link changes the
    build, so both are inputs, and so are the files under their real names."""
    root = tmp_path / "r"
    (root / "overlays/p").mkdir(parents=True)
    (root / "real").mkdir()
    (root / "real/kustomization.yaml").write_text("resources:\n  - cm.yaml\n")
    (root / "real/cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
    (root / "hop").symlink_to("real")
    (root / "overlays/p/upstream").symlink_to("../../hop")
    (root / "overlays/p/kustomization.yaml").write_text("resources:\n  - upstream\n")
    found = gitdiff.inputs(root / "overlays/p", gitdiff.for_tree(settings.load(REPO), root))
    assert {"overlays/p/upstream", "hop", "real/kustomization.yaml", "real/cm.yaml"} <= found
    assert gitdiff._touches({"hop"}, found) and gitdiff._touches({"overlays/p/upstream"}, found)
    assert not gitdiff._touches({"real/other.yaml"}, found)
