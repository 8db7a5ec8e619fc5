"""Every link of the documentation resolves: a file that exists and, for #anchors, a heading (or an explicit
`<a id>`) it names.

* every relative link and image in README.md and docs/**/*.md (the runbooks included), outside code;
* every runbook_url of every PrometheusRule an overlay renders, and every link into this repository that a
  rendered object carries (notification templates, comments aside): each is
  https://github.com/company/webhook-service-gitops/blob/main/<path> and <path> must exist here.

Anchors follow GitHub's rules (github-slugger): the heading's text as rendered (markup stripped), lowercased,
every character that is not a letter, digit, space, hyphen or underscore removed, spaces turned into hyphens,
and -1, -2, ... appended to repeats.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from conftest import REPO
from gitops_check import render

BLOB = "https://github.com/company/webhook-service-gitops/blob/main/"
DOCS = sorted([REPO / "README.md", *(REPO / "docs").rglob("*.md")])
RENDERED = ["overlays/staging", "overlays/production", "argocd"]

FENCE = re.compile(r"^(\s*)(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
EXPLICIT_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"", re.I)


def prose_lines(text: str):
    """(line number, line) outside fenced code blocks, with code spans blanked."""
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line)
        if m:
            fence = None if fence and line.strip().startswith(fence) else fence or m.group(2)
            continue
        if fence is None:
            yield number, CODE_SPAN.sub(lambda c: " " * len(c.group(0)), line)


def slug(heading: str) -> str:
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links and images: their text
    text = CODE_SPAN.sub(lambda c: c.group(2), text)  # code spans: their content
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = re.sub(r"\*+|(?<!\w)_+|_+(?!\w)", "", text)  # emphasis markers (an underscore inside a word stays)
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)  # keeps letters, digits, underscore, hyphen, space
    return text.replace(" ", "-")


@lru_cache(maxsize=None)
def anchors(path: Path) -> frozenset[str]:
    found, seen = set(), {}
    text = path.read_text(encoding="utf-8")
    for _, line in prose_lines(text):
        found.update(EXPLICIT_ANCHOR.findall(line))
        m = HEADING.match(line)
        if m:
            base = slug(m.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return frozenset(found)


def problem(source: Path, target: str) -> str | None:
    """Why `target` (a link written in `source`) does not resolve, or None."""
    parts = urlsplit(target)
    if parts.scheme or target.startswith("//"):
        return None  # an external URL: not this test's to fetch
    path = source if not parts.path else (source.parent / unquote(parts.path)).resolve()
    if not path.exists():
        return f"{target}: {path.relative_to(REPO) if path.is_relative_to(REPO) else path} does not exist"
    if not path.resolve().is_relative_to(REPO.resolve()):
        return f"{target}: leads out of the repository"
    if parts.fragment:
        if path.is_dir() or path.suffix != ".md":
            return f"{target}: an anchor into {path.name}, which is not a Markdown file"
        if unquote(parts.fragment) not in anchors(path):
            return f"{target}: {path.relative_to(REPO)} has no heading with the anchor #{parts.fragment}"
    return None


def links(path: Path) -> list[tuple[int, str]]:
    return [(n, m.group(1)) for n, line in prose_lines(path.read_text(encoding="utf-8")) for m in LINK.finditer(line)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves_to_a_file_and_heading(doc):
    broken = [f"{doc.relative_to(REPO)}:{n}: {why}" for n, target in links(doc) if (why := problem(doc, target))]
    assert broken == [], "\n".join(broken)


def test_the_documents_link_to_each_other():
    """The operations manual is reachable from the README, and it reaches its companions."""
    targets = {t for _, t in links(REPO / "README.md")}
    assert any(t.startswith("docs/operations.md") for t in targets)
    ops = {t.split("#")[0] for _, t in links(REPO / "docs" / "operations.md")}
    assert {"checklists.md", "training.md"} <= ops


def strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from strings(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from strings(value)


def repository_urls(obj) -> list[str]:
    """Every https://github.com/company/webhook-service-gitops/blob/main/... URL inside a rendered object."""
    return [u.rstrip(".,;:") for s in strings(obj) for u in re.findall(re.escape(BLOB) + r"[^\s\"'<>)\]}]+", s)]


def test_every_runbook_url_names_a_runbook_of_this_repository():
    # Rendered here, not through the session's shared `rendered` cache: another test strips the annotations of
    # the cached PrometheusRules before handing them to promtool.
    urls = {}
    for overlay in RENDERED:
        for doc in render.documents(REPO / overlay, overlay):
            if doc.kind == "PrometheusRule":
                for group in doc.obj["spec"]["groups"]:
                    for rule in group["rules"]:
                        if "alert" in rule:
                            url = (rule.get("annotations") or {}).get("runbook_url")
                            assert url, f"{overlay}: alert {rule['alert']} has no runbook_url"
                            urls[url] = f"{overlay}: alert {rule['alert']}"
            for url in repository_urls(doc.obj):
                urls.setdefault(url, f"{overlay}: {doc.kind} {doc.name}")
    assert any("/docs/runbooks/" in u for u in urls), "no runbook_url found"
    broken = []
    for url, where in sorted(urls.items()):
        if not url.startswith(BLOB):
            broken.append(f"{where}: {url} does not point into {BLOB}")
        elif why := problem(REPO / "README.md", url[len(BLOB):]):
            broken.append(f"{where}: {why}")
    assert broken == [], "\n".join(broken)


@pytest.mark.parametrize("heading, expected", [
    ("Measured end to end", "measured-end-to-end"),
    ("How gitops-check judges a change", "how-gitops-check-judges-a-change"),
    ("Analysis, abort and rollback", "analysis-abort-and-rollback"),
    ("`scripts/rollback`: the two paths", "scriptsrollback-the-two-paths"),
    ("Exercise 2: watch a **healthy** release", "exercise-2-watch-a-healthy-release"),
    ("rollout_info and _emphasis_", "rollout_info-and-emphasis"),
    ("Targets [linked](x.md) — 99 %", "targets-linked--99-"),
])
def test_anchors_follow_githubs_rules(heading, expected):
    assert slug(heading) == expected


def test_a_broken_link_and_a_missing_heading_are_found(tmp_path, monkeypatch):
    doc = REPO / "docs" / "operations.md"
    assert problem(doc, "checklists.md#post-deployment") is None
    assert "has no heading" in problem(doc, "checklists.md#no-such-heading")
    assert "does not exist" in problem(doc, "no-such-file.md")
    assert problem(doc, "#standard-deployment") is None
    assert problem(doc, "https://example.invalid/x") is None
