"""No network, by construction: every remote reference an overlay's kustomization graph holds is refused
before kustomize runs (exit 2, one line naming the file and line), fast, and nothing is ever connected to.

The remote URLs point at a local TCP server that records every connection it accepts and never answers (what
hung `validate` before), and carry a planted credential that must appear in no output."""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO
from gitops_check import kustomgraph, settings
from gitops_check.errors import InputError

SECRET = "hunter2"
FAST = 5.0  # seconds: a refusal never waits on a socket


class Listener:
    """127.0.0.1:PORT: accepts and records connections, never sends a byte (a server that hangs its clients)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted.append(conn)  # held open, unanswered

    @property
    def url(self) -> str:
        return f"http://user:{SECRET}@127.0.0.1:{self.port}"

    def close(self):
        self.stopped.set()
        self.thread.join(timeout=5)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


@pytest.fixture
def listener():
    server = Listener()
    try:
        yield server
    finally:
        server.close()


def cli(*args: str, cwd: Path = REPO, prefix: tuple[str, ...] = (),
        timeout: float = 60) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    proc = subprocess.run([*prefix, sys.executable, "-m", "gitops_check", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)
    return proc, time.monotonic() - started


def write(folder: Path, text: str, name: str = "kustomization.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder


# (id, files of the hostile overlay {relative path: text}, the file and line the refusal must name, what it says)
# {url} is the listener with a planted credential. The overlay sits outside the repository (an explicit target).
CASES = [
    ("resources-http",
     {"kustomization.yaml": "resources:\n  - {url}/deployment.yaml\n"},
     "kustomization.yaml:2", "resources entry"),
    ("git-url-timeout",
     {"kustomization.yaml": "# git clone, for as long as the pull request says\nresources:\n"
                            "  - {url}/org/repo.git//deploy?ref=main&timeout=3600\n"},
     "kustomization.yaml:3", "resources entry"),
    ("configmap-files",
     {"kustomization.yaml": "configMapGenerator:\n  - name: settings\n    files:\n      - settings.json={url}/internal\n"},
     "kustomization.yaml:4", "configMapGenerator files entry"),
    ("component",
     {"kustomization.yaml": "resources: []\ncomponents:\n  - {url}/components/routing\n"},
     "kustomization.yaml:3", "components entry"),
    ("patch-path",
     {"kustomization.yaml": "resources: []\npatches:\n  - target:\n      kind: Deployment\n    path: {url}/patch.yaml\n"},
     "kustomization.yaml:5", "patches path entry"),
    ("nested-base",
     {"kustomization.yaml": "resources:\n  - base\n",
      "base/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                 "resources:\n  - local.yaml\n  - {url}/org/repo//base?timeout=3600\n",
      "base/local.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local\n"},
     "base/kustomization.yaml:5", "resources entry"),
    ("helm-charts",
     {"kustomization.yaml": "helmCharts:\n  - name: webhook\n    repo: {url}/charts\n    version: 1.0.0\n"},
     "kustomization.yaml:2", "helmCharts would make kustomize pull a Helm chart"),
]


def plant(tmp_path: Path, files: dict[str, str], url: str) -> Path:
    overlay = tmp_path / "evil"
    for name, text in files.items():
        write((overlay / name).parent, text.replace("{url}", url), Path(name).name)
    return overlay


def assert_refused(proc: subprocess.CompletedProcess, seconds: float, where: str, says: str, listener: Listener):
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert seconds < FAST, f"took {seconds:.1f}s"
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gitops-check: error: "), proc.stderr
    assert f"{where}: " in lines[0] and says in lines[0], lines[0]
    assert SECRET not in out
    assert listener.accepted == [], "a connection reached the server"


@pytest.mark.parametrize("command", ["render", "validate", "plan"])
@pytest.mark.parametrize("case, files, where, says", CASES, ids=[c[0] for c in CASES])
def test_a_remote_reference_is_refused_before_kustomize_runs(tmp_path, listener, command, case, files, where, says):
    overlay = plant(tmp_path, files, listener.url)
    args = [command, str(overlay)] + (["--format", "json"] if command != "render" else [])
    proc, seconds = cli(*args)
    assert_refused(proc, seconds, where, says, listener)
    if command == "validate":  # --format json: the same line as {"error": ...} on stdout
        assert f"{where}: " in proc.stdout and '"error"' in proc.stdout


def test_refused_without_a_network(tmp_path, listener):
    # make e2e needs unprivileged user namespaces too (README): a machine without them fails here, loudly
    assert subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=10).returncode == 0, "unshare -rn"
    _, files, where, says = CASES[1]  # the git URL that asks kustomize to wait an hour
    overlay = plant(tmp_path, files, listener.url)
    proc, seconds = cli("validate", "--offline", str(overlay), prefix=("unshare", "-rn"))
    assert_refused(proc, seconds, where, says, listener)


def test_the_listener_would_see_a_connection(listener):
    """The zero-accepts assertions above mean something: a client that does connect is recorded."""
    with socket.create_connection(("127.0.0.1", listener.port), timeout=5):
        deadline = time.monotonic() + 5
        while not listener.accepted and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(listener.accepted) == 1


def test_the_repositorys_overlays_still_render(listener):
    proc, _ = cli("render", "overlays/staging")
    assert proc.returncode == 0, proc.stderr
    assert "kind: Rollout" in proc.stdout and listener.accepted == []
    s = settings.load()
    for pattern in s.targets:  # every default target passes the walk
        for target in s.repo_root.glob(pattern):
            if (target / "kustomization.yaml").is_file():
                kustomgraph.check(target, s)


# Every form kustomize would fetch, in every field it reads from, refused by the walk itself (no process).
REMOTE = "http://user:" + SECRET + "@127.0.0.1:9/x"
FORMS = {
    "https": "https://example.com/org/repo/deploy?ref=v1",
    "ssh": "ssh://git@example.com/org/repo.git",
    "scp": "git@example.com:org/repo.git",
    "github-shorthand": "github.com/org/repo/deploy?ref=v1",
    "github-shorthand-no-ref": "GitHub.com/org/repo",
    "go-getter": "git::https://example.com/org/repo.git",
    "forced-getter": "s3::example.com/bucket/x",
    "subdir": "example.com/org/repo//deploy",
    "query": "example.com/org/repo?ref=main",
    "file-url": "file:///tmp/repo.git",
    "scheme": "gh:org/repo",
    "uppercase-scheme": "HTTP://127.0.0.1:9/x",
}


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_every_remote_form_is_refused(tmp_path, form):
    write(tmp_path / "o", f"resources:\n  - '{form}'\n")
    with pytest.raises(InputError, match=r"kustomization.yaml:2: resources entry .* is a remote reference"):
        kustomgraph.check(tmp_path / "o")


FIELDS = {
    "bases": "bases:\n  - {r}\n",
    "crds": "crds:\n  - {r}\n",
    "configurations": "configurations:\n  - {r}\n",
    "patchesStrategicMerge": "patchesStrategicMerge:\n  - {r}\n",
    "patchesJson6902": "patchesJson6902:\n  - target: {{kind: Deployment, name: x}}\n    path: {r}\n",
    "secretGenerator-envs": "secretGenerator:\n  - name: s\n    envs:\n      - {r}\n",
    "configMapGenerator-env": "configMapGenerator:\n  - name: c\n    env: {r}\n",
    "configMapGenerator-files-without-key": "configMapGenerator:\n  - name: c\n    files: [{r}]\n",
    "openapi": "openapi:\n  path: {r}\n",
    "replacements": "replacements:\n  - path: {r}\n",
    "generators": "generators:\n  - {r}\n",
    "transformers": "transformers:\n  - {r}\n",
    "validators": "validators:\n  - {r}\n",
    "case-insensitive-key": "Resources:\n  - {r}\n",
    "merge-key": "<<:\n  resources:\n    - {r}\n",
    "binary-tag": "resources:\n  - !!binary aHR0cDovLzEyNy4wLjAuMTo5L3g=\n",
    "inline-transformer": "transformers:\n  - |\n    apiVersion: builtin\n    kind: PatchTransformer\n"
                          "    metadata:\n      name: p\n    path: {r}\n",
    "inline-helm-generator": "generators:\n  - |\n    apiVersion: builtin\n    kind: HelmChartInflationGenerator\n"
                             "    metadata:\n      name: h\n    chartName: x\n",
    "helmChartInflationGenerator": "helmChartInflationGenerator:\n  - chartName: x\n",
}


@pytest.mark.parametrize("text", FIELDS.values(), ids=FIELDS.keys())
def test_every_field_kustomize_reads_is_walked(tmp_path, text):
    write(tmp_path / "o", text.format(r=f"'{REMOTE}'"))
    with pytest.raises(InputError) as refused:
        kustomgraph.check(tmp_path / "o")
    message = str(refused.value)
    assert message.startswith(f"{tmp_path / 'o' / 'kustomization.yaml'}:") and "\n" not in message
    assert "remote reference" in message or "Helm chart" in message
    assert SECRET not in message


def test_plugin_configs_in_files_and_folders_are_walked(tmp_path):
    overlay = write(tmp_path / "o", "resources: []\ntransformers:\n  - patcher.yaml\ngenerators:\n  - gen\n")
    (overlay / "patcher.yaml").write_text("apiVersion: builtin\nkind: PatchTransformer\nmetadata:\n  name: p\n"
                                          "path: patch.yaml\n")
    write(overlay / "gen", "resources:\n  - cm.yaml\n")
    (overlay / "gen" / "cm.yaml").write_text("apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata:\n  name: c\n"
                                             f"files:\n  - a=b.txt\n  - k={REMOTE}\n")
    with pytest.raises(InputError, match=r"gen/cm.yaml:7: ConfigMapGenerator files entry 'k=http://\*\*\*@127"):
        kustomgraph.check(overlay)


def test_values_that_are_not_paths_are_not_references(tmp_path):
    """URLs in labels, annotations or an inline config's values are data, not something kustomize fetches."""
    overlay = write(tmp_path / "o", "resources:\n  - cm.yaml\ncommonAnnotations:\n  runbook: https://example.com/r\n"
                                    "transformers:\n  - |\n    apiVersion: builtin\n    kind: AnnotationsTransformer\n"
                                    "    metadata:\n      name: a\n    annotations:\n      docs: https://example.com/d\n"
                                    "    fieldSpecs:\n      - path: metadata/annotations\n        create: true\n")
    (overlay / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"
                                     "data:\n  url: https://example.com\n")
    kustomgraph.check(overlay)


def test_a_symlink_out_of_the_repository_is_refused(tmp_path):
    repo = tmp_path / "repo"
    write(repo / "overlays" / "staging", "resources:\n  - ../../base\n  - ../../base/escape.yaml\n")
    write(repo / "base", "resources: []\n")
    write(tmp_path / "outside", "resources: []\n")
    (repo / "base" / "escape.yaml").symlink_to(tmp_path / "outside" / "kustomization.yaml")
    s = dataclasses.replace(settings.load(), repo_root=repo)
    with pytest.raises(InputError, match=r"^overlays/staging/kustomization.yaml:3: resources entry "
                                         r"'../../base/escape.yaml' leads out of the repository through a symlink"):
        kustomgraph.check(repo / "overlays" / "staging", s)
    (repo / "overlays" / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(InputError, match=r"^overlays/link: the overlay leads out of the repository"):
        kustomgraph.check(repo / "overlays" / "link", s)


def test_an_anchor_used_many_times_is_walked_once(tmp_path):
    refs = ", ".join(["*r"] * 300)
    groups = ", ".join(["*g"] * 300)  # 90,000 nodes through aliases: within the loader's budget
    write(tmp_path / "o", f"x: &r local.yaml\ny: &g {{files: [{refs}]}}\nconfigMapGenerator: [{groups}]\n")
    started = time.monotonic()
    kustomgraph.check(tmp_path / "o")
    assert time.monotonic() - started < 2


def test_an_alias_bomb_kustomization_is_refused_fast(tmp_path):
    """2,000 x 2,000 aliases: four million nodes to kustomize, refused before it or the walk expands them."""
    refs = ", ".join(["*r"] * 2000)
    groups = ", ".join(["*g"] * 2000)
    write(tmp_path / "o", f"x: &r local.yaml\ny: &g {{files: [{refs}]}}\nconfigMapGenerator: [{groups}]\n")
    started = time.monotonic()
    with pytest.raises(InputError, match=r"o/kustomization.yaml:3: invalid YAML: aliases expand to more than 100,000 "
                                         r"nodes .*: refused as a YAML alias bomb \(cannot be checked for remote references\)"):
        kustomgraph.check(tmp_path / "o")
    assert time.monotonic() - started < 2


def test_a_new_overlay_in_the_default_targets_is_guarded(tmp_path, listener):
    """A pull request that adds overlays/evil: `validate` with no PATH picks it up, and refuses it fast."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO, repo, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "reports", "rendered", "__pycache__", ".pytest_cache", "*.egg-info", "gitops_check"))
    write(repo / "overlays" / "evil", f"resources:\n  - ../../base\n  - {listener.url}/org/repo.git?timeout=3600\n")
    env = dict(os.environ, GITOPS_CHECK_CRDS_DIR=str(settings.load().crds_dir))
    started = time.monotonic()
    proc = subprocess.run([str(REPO / ".venv" / "bin" / "gitops-check"), "validate"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=120)
    assert_refused(proc, time.monotonic() - started, "overlays/evil/kustomization.yaml:3", "resources entry", listener)
