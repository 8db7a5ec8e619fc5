"""The pull-request pipeline's own files: GitHub Actions workflows (pinned, least privilege, the trust boundary,
actionlint), CODEOWNERS, the pre-commit hooks, Renovate's custom managers and the CRD fetcher CI runs."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from gitops_check import settings, toolchain
from gitops_check.errors import ToolError

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.y*ml"))
FETCH_CRDS = REPO / ".github" / "scripts" / "fetch-crds"
SKIP_DIRS = {".git", ".venv", "__pycache__", ".pytest_cache", "reports", "rendered", "build", "dist"}

# The only write scopes, job by job: everything else reads. Each one is argued in the workflow's comments.
WRITE_SCOPES = {
    ("pull-request.yaml", "code-scanning"): {"security-events"},
    ("pull-request.yaml", "comment"): {"pull-requests"},
    ("promote.yaml", "promote"): {"contents", "pull-requests"},
}


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def triggers(workflow: dict) -> dict:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as true
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return on


def steps(workflow: dict):
    for job_id, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, step


def repo_files() -> list[str]:
    found = []
    for path in REPO.rglob("*"):
        rel = path.relative_to(REPO)
        if path.is_file() and not SKIP_DIRS.intersection(rel.parts) and not rel.parts[0].endswith(".egg-info"):
            found.append(rel.as_posix())
    return found


def test_there_are_the_two_workflows():
    assert {p.name for p in WORKFLOWS} == {"pull-request.yaml", "promote.yaml"}


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_by_a_full_commit_sha_with_its_version(workflow):
    """A tag can be moved to other code; a 40-hex commit cannot. The comment names the release Renovate tracks."""
    uses = [line.strip() for line in workflow.read_text().splitlines() if re.match(r"^\s*(-\s+)?uses:", line)]
    assert uses
    for line in uses:
        ref = line.split("uses:", 1)[1].split("#", 1)[0].strip()
        if ref.startswith("./"):
            continue  # an action of this repository, at the commit under test
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), f"{workflow.name}: not pinned by a commit SHA: {line}"
        assert re.search(r"#\s*v\d+\.\d+\.\d+\s*$", line), f"{workflow.name}: no `# vX.Y.Z` comment: {line}"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_every_job_has_a_timeout_and_least_permissions(workflow):
    w = load(workflow)
    assert w.get("permissions") == {}, f"{workflow.name}: the top level grants nothing; each job asks for its own"
    assert w.get("concurrency", {}).get("group"), f"{workflow.name}: no concurrency group"
    for job_id, job in w["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int) and 0 < job["timeout-minutes"] <= 120, f"{job_id}: timeout-minutes"
        perms = job.get("permissions")
        assert isinstance(perms, dict) and perms, f"{job_id}: no explicit permissions (it would get the repository default)"
        assert set(perms.values()) <= {"read", "write", "none"}, f"{job_id}: {perms}"
        writes = {scope for scope, level in perms.items() if level == "write"}
        assert writes == WRITE_SCOPES.get((workflow.name, job_id), set()), f"{workflow.name} {job_id}: writes {writes}"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_no_privileged_trigger_and_no_persisted_credentials(workflow):
    w = load(workflow)
    assert not {"pull_request_target", "workflow_run"} & set(triggers(w)), f"{workflow.name}: a trigger that runs with write access"
    for job_id, step in steps(w):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, f"{job_id}: a checkout keeps its token in .git/config"


def test_pull_request_workflow_judges_with_the_base_branch():
    """The verdict comes from the base branch's harness, policies, waivers and SLO; the pull request is data."""
    w = load(REPO / ".github" / "workflows" / "pull-request.yaml")
    assert "pull_request" in triggers(w)
    assert w["concurrency"]["cancel-in-progress"] is True
    judge = w["jobs"]["judge"]
    checkouts = {s["with"]["path"]: s["with"]["ref"] for s in judge["steps"] if s.get("uses", "").startswith("actions/checkout@")}
    assert checkouts == {"trusted": "${{ github.event.pull_request.base.sha }}",
                         "pr": "${{ github.event.pull_request.head.sha }}"}
    runs = "\n".join(s.get("run", "") for s in judge["steps"])
    assert "make -C trusted tools" in runs
    assert "check=(trusted/.venv/bin/gitops-check --repo pr)" in runs
    assert 'validate --shard "$SHARD/$SHARDS" --format json' in runs and "diff --base" in runs
    assert judge["strategy"]["matrix"]["shard"] == list(range(1, int(judge["env"]["SHARDS"]) + 1))
    # The verdict: every shard's JSON report merged by the base branch's package; the pull request is not checked out.
    report = w["jobs"]["report"]
    assert report["needs"] == "judge"
    assert [s["with"]["path"] for s in report["steps"] if s.get("uses", "").startswith("actions/checkout@")] == ["trusted"]
    merged = "\n".join(s.get("run", "") for s in report["steps"])
    assert "pip install --quiet --disable-pip-version-check ./trusted" in merged
    assert "gitops-check merge" in merged and "--format sarif" in merged
    # Every file setting the harness reads from the repository under check points into the base checkout...
    for var, where in [("POLICIES_DIR", "trusted/policies"), ("WAIVERS_FILE", "trusted/waivers.yaml"),
                       ("SLO_FILE", "trusted/base/slo.yaml"), ("CRDS_DIR", "shared/crds")]:
        assert f'export GITOPS_CHECK_{var}="$GITHUB_WORKSPACE/{where}"' in runs, var
    # ...and the judge's files without an override are the base's copies.
    assert "for f in pyproject.toml crds.lock .yamllint tools; do" in runs
    # Nothing of the pull request's runs in the judge: no command, script, Makefile or virtualenv from pr/.
    for line in runs.splitlines():
        assert not re.match(r"\s*(pr/|python3? pr/|bash pr/|make -C pr\b|\(cd pr)", line), line
        assert "pr/.venv" not in line and "pr/.github" not in line and "pr/scripts" not in line, line
    # The jobs with a write scope run no shell step at all.
    for job_id in ("code-scanning", "comment"):
        assert not any("run" in s for s in w["jobs"][job_id]["steps"]), job_id


def test_the_comment_is_found_again_by_its_marker():
    w = load(REPO / ".github" / "workflows" / "pull-request.yaml")
    script = next(s for _, s in steps(w) if s.get("uses", "").startswith("actions/github-script@"))["with"]["script"]
    assert "const marker = '<!-- gitops-check-diff -->'" in script
    assert "updateComment" in script and "createComment" in script and "github-actions[bot]" in script
    assert "${{" not in script  # no expression expanded into the code: pull-request text stays data


def test_promote_workflow_goes_through_scripts_promote():
    w = load(REPO / ".github" / "workflows" / "promote.yaml")
    assert set(triggers(w)) == {"workflow_dispatch"}
    assert triggers(w)["workflow_dispatch"]["inputs"]["digest"]["required"] is False
    promote = w["jobs"]["promote"]
    runs = [s.get("run", "") for s in promote["steps"]]
    assert 'scripts/promote production "$DIGEST"' in runs
    cpr = next(s for s in promote["steps"] if s.get("uses", "").startswith("peter-evans/create-pull-request@"))
    assert cpr["with"]["add-paths"] == "overlays/production/kustomization.yaml"


def actionlint() -> str:
    try:
        return toolchain.locate("actionlint", settings.load(REPO))
    except ToolError as exc:
        pytest.fail(f"{exc} (make tools builds actionlint)")


def test_actionlint_passes_on_the_workflows():
    proc = subprocess.run([actionlint(), "-no-color", *map(str, WORKFLOWS)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_fails_on_a_broken_workflow(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.event.nope.title }}\n"
                   "      - uses: actions/checkout@v4\n        with: {no-such-input: 1}\n")
    proc = subprocess.run([actionlint(), "-no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "no-such-input" in proc.stdout, proc.stdout + proc.stderr


def test_make_lint_runs_actionlint():
    lint = re.search(r"^lint:.*\n((?:\t.*\n)+)", (REPO / "Makefile").read_text(), re.M).group(1)
    assert "toolchain path actionlint) .github/workflows/" in lint


# CODEOWNERS: gitignore-style patterns, the last match wins.

def owner_rules() -> list[tuple[str, list[str]]]:
    rules = []
    for line in (REPO / ".github" / "CODEOWNERS").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            pattern, *owners = line.split()
            assert owners and all(re.fullmatch(r"@[\w.-]+/[\w.-]+", o) for o in owners), line
            rules.append((pattern, owners))
    return rules


def pattern_matches(pattern: str, path: str) -> bool:
    body = re.escape(pattern.strip("/")).replace(r"\*\*", ".*").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
    prefix = "" if pattern.startswith("/") else "(?:.*/)?"
    suffix = "/.*" if pattern.endswith("/") else "(?:/.*)?"
    return re.fullmatch(prefix + body + suffix, path) is not None


def owners_of(path: str, rules) -> list[str]:
    hit = [owners for pattern, owners in rules if pattern_matches(pattern, path)]
    return hit[-1] if hit else []


def test_pattern_matching_is_gitignore_like():
    assert pattern_matches("/policies/", "policies/data/x.yaml")
    assert not pattern_matches("/policies/", "tests/policies/x")
    assert pattern_matches("/base/slo.yaml", "base/slo.yaml") and not pattern_matches("/base/slo.yaml", "base/rollout.yaml")
    assert pattern_matches("*.rego", "policies/x.rego") and pattern_matches("docs/", "a/docs/b")


def test_codeowners_require_review_of_what_judges_and_production():
    rules = owner_rules()
    files = repo_files()
    for pattern, _ in rules:
        assert any(pattern_matches(pattern, f) for f in files), f"CODEOWNERS: {pattern} matches no file"
    guarded = ["waivers.yaml", "policies/", "base/slo.yaml", "gitops_check/", "tools/", "pyproject.toml", "Makefile",
               ".ci/", ".github/", "crds.lock", "overlays/production/"]
    for prefix in guarded:
        hits = [f for f in files if f == prefix or (prefix.endswith("/") and f.startswith(prefix))]
        assert hits, f"{prefix}: no such file in the repository"
        for f in hits:
            assert owners_of(f, rules), f"{f}: no code owner must review it"
    assert "@company/sre" in owners_of("base/slo.yaml", rules) and "@company/sre" in owners_of("overlays/production/kustomization.yaml", rules)
    assert not owners_of("overlays/staging/kustomization.yaml", rules)  # staging moves without an owner's review


def test_pre_commit_hooks_run_the_pinned_tools():
    config = load(REPO / ".pre-commit-config.yaml")
    (local,) = config["repos"]
    assert local["repo"] == "local"
    hooks = {h["id"]: h for h in local["hooks"]}
    assert set(hooks) == {"yamllint", "gitops-check"}
    for hook in hooks.values():
        assert hook["language"] == "system" and hook["pass_filenames"] is False
        program = hook["entry"].split()[0]
        assert program.startswith(".venv/bin/") and (REPO / program).exists(), program
    assert hooks["gitops-check"]["entry"].endswith("validate --changed HEAD --offline")


# Renovate: each custom manager's regex, read the way Renovate reads it, finds the pins in the file it targets.

def renovate_regex(js: str) -> re.Pattern:
    return re.compile(js.replace("(?<", "(?P<").replace("(?P<=", "(?<=").replace("(?P<!", "(?<!"))


def manager_files(manager: dict) -> list[str]:
    assert all(p.startswith("/") and p.endswith("/") for p in manager["managerFilePatterns"])  # regexes, not globs
    patterns = [re.compile(p[1:-1]) for p in manager["managerFilePatterns"]]
    return [f for f in repo_files() if any(p.search(f) for p in patterns)]


def extracted(manager: dict) -> list[dict]:
    deps = []
    for f in manager_files(manager):
        text = (REPO / f).read_text(encoding="utf-8")
        for js in manager["matchStrings"]:
            for m in renovate_regex(js).finditer(text):
                dep = {k: v for k, v in m.groupdict().items() if v is not None} | {"file": f}
                dep.setdefault("depName", manager.get("depNameTemplate"))
                dep.setdefault("packageName", dep["depName"])
                deps.append(dep)
    return deps


def test_renovate_config_is_json_with_the_needed_managers():
    config = json.loads((REPO / "renovate.json").read_text())
    assert "helpers:pinGitHubActionDigestsToSemver" in config["extends"]
    for manager in config["customManagers"]:
        assert manager["customType"] == "regex" and manager["datasourceTemplate"]
        assert manager_files(manager), manager["description"]
        assert extracted(manager), f"no pin found by: {manager['description']}"


def test_renovate_finds_every_pin_of_pyproject_and_crds_lock():
    config = json.loads((REPO / "renovate.json").read_text())
    deps = [d for m in config["customManagers"] for d in extracted(m)]
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["gitops-check"]
    found = {d["depName"]: d for d in deps}
    for tool in cfg["tools"].values():
        if "version" in tool:
            dep = found[tool["module"]]
            assert dep["currentValue"] == tool["version"]
            assert dep["packageName"] == re.sub(r"/cmd/[^/]+$", "", tool["module"])  # the module the Go proxy serves
    assert found["k8s.io/kubernetes"]["currentValue"] == cfg["kubernetes-version"]
    assert found["k8s.io/ingress-nginx"]["currentValue"] == cfg["ingress-nginx-annotations-version"]
    lock = (REPO / "crds.lock").read_text()
    urls = re.findall(r"https://raw\.githubusercontent\.com/([^/\s]+/[^/\s]+)/([^/\s]+)/", lock)
    assert len(urls) == len(re.findall(r"^[0-9a-f]{64}\s", lock, re.M)) > 0
    assert sorted((d["depName"], d["currentValue"]) for d in deps if d["file"] == "crds.lock") == sorted(urls)
    # The rules name packages that exist, so none silently stops applying.
    names = {d["packageName"] for d in deps} | {d["depName"] for d in deps}
    for rule in config["packageRules"]:
        for name in rule.get("matchPackageNames", []):
            assert name in names, f"renovate.json: {name} is no pin of this repository"


# The CRD fetcher the hosted CI runs before `make tools`: offline here, from file:// URLs.

def run_fetch(*args, timeout=60):
    return subprocess.run([sys.executable, str(FETCH_CRDS), *map(str, args)], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def upstream(tmp_path):
    """crds.lock with every URL moved to a file:// copy of what it names: a whole file is the locked file itself;
    the Istio ones come from one multi-document file like upstream's crd-all.gen.yaml, with decoys around them."""
    crds = settings.load(REPO).crds_dir
    lines = (REPO / "crds.lock").read_text().splitlines()
    istio = [l.split()[1] for l in lines if re.match(r"[0-9a-f]{64}\s+networking\.istio\.io/", l)]
    assert istio
    docs = ["# DO NOT EDIT\napiVersion: v1\nkind: CustomResourceDefinition\nmetadata:\n  name: other.security.istio.io\n"]
    docs += [(crds / p).read_text() for p in istio] + ["metadata:\n  name: last.telemetry.istio.io\n"]
    multi = tmp_path / "crd-all.gen.yaml"
    multi.write_text("---\n".join(docs))
    out = []
    for i, line in enumerate(lines):
        m = re.search(r"https://raw\.githubusercontent\.com/\S+", line)
        if m:
            entry = next(l for l in lines[i + 1:] if not l.startswith("#"))
            url = multi.as_uri() if m.group(0).endswith("crd-all.gen.yaml") else (crds / entry.split()[1]).as_uri()
            line = line.replace(m.group(0), url)
        out.append(line)
    (tmp_path / "crds.lock").write_text("\n".join(out) + "\n")
    return tmp_path / "crds.lock", crds


def test_fetch_crds_lays_out_the_locked_files(upstream, tmp_path):
    lock, crds = upstream
    dest = tmp_path / "shared" / "crds"
    proc = run_fetch(lock, dest)
    assert proc.returncode == 0, proc.stderr
    for line in lock.read_text().splitlines():
        if line and not line.startswith("#"):
            digest, rel = line.split()
            assert hashlib.sha256((dest / rel).read_bytes()).hexdigest() == digest
            assert (dest / rel).read_bytes() == (crds / rel).read_bytes()
    assert run_fetch(lock, dest).returncode == 0  # a second run finds every file in place


def test_fetch_crds_refuses_a_file_that_does_not_match_the_lock(upstream, tmp_path):
    lock, _ = upstream
    bad = lock.read_text().replace("d79c0dab9bb386b1", "0" * 16, 1)
    assert bad != lock.read_text()
    lock.write_text(bad)
    proc = run_fetch(lock, tmp_path / "out")
    assert proc.returncode == 1 and "argoproj.io/rollouts.yaml: sha256" in proc.stderr
    assert run_fetch("--update", lock, tmp_path / "out").returncode == 0  # a new release: rewrite the sha256 lines
    assert "d79c0dab9bb386b1" in lock.read_text() and run_fetch(lock, tmp_path / "out2").returncode == 0


def test_fetch_crds_is_what_the_workflows_run():
    for workflow in WORKFLOWS:
        for job_id, job in load(workflow)["jobs"].items():
            runs = "\n".join(s.get("run", "") for s in job.get("steps", []))
            if "make -C" in runs or "make test" in runs:  # make tools and make test need the CRDs
                assert ".github/scripts/fetch-crds" in runs and "shared/crds" in runs, f"{workflow.name} {job_id}"
    assert shutil.which("python3") and FETCH_CRDS.stat().st_mode & 0o111
