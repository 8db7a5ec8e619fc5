"""The `promql` stage: every alert, recording rule and analysis query must load in the real Prometheus.

kubeconform proves a PrometheusRule has the right shape, but `expr` is an opaque string to it: an alert
with a typo never fires and nothing says so. Here every rule group of every PrometheusRule, and every
Prometheus query of every AnalysisTemplate/ClusterAnalysisTemplate (args substituted, written as a
recording rule), goes into rule files checked by ONE `promtool check rules` process — the same parser
and validation Prometheus runs when it loads the rules.

Mapping back: groups are written renamed `g<N>` (unique over the run), so promtool's
`group "g<N>", rule <K>` points at one document, group and rule. Each source (overlay) gets its own
file because promtool's duplicate-rule lint works per file, and one overlay is what one Prometheus loads.

Whether an expression that loads also means something (ratios, quantiles, counters, windows), and the
queries of Grafana dashboards, is promql_meaning.py's part of this stage, on Prometheus' own syntax tree.

Only fields promtool needs are written (alert/record, expr, for, keep_firing_for, labels,
annotations): a field promtool does not know, or a malformed duration, would make it reject the whole
file before checking any expression. Those shape errors belong to the schemas stage (the CRD has the
patterns), so leaving them out here hides nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import analysis, promql_meaning, runner
from .context import Context
from .errors import ToolError
from .model import Document, Source, Violation
from .rules import rule

RULE_INVALID = rule(
    "WH-PROM-001",
    "error",
    "promql",
    "Every PrometheusRule alert and recording rule loads in Prometheus (promtool check rules)",
    "Prometheus rejects the whole rule file when one expression or template does not parse, so none of its alerts fire",
)
QUERY_INVALID = rule(
    "WH-PROM-002",
    "error",
    "promql",
    "Every AnalysisTemplate Prometheus query parses as PromQL once its args are substituted",
    "A query that does not parse makes every measurement Error, so the canary analysis aborts the rollout for nothing",
)
DUPLICATE_RULE = rule(
    "WH-PROM-003",
    "warning",
    "promql",
    "No two rules of one overlay produce the same alert or series with the same labels",
    "Duplicate rules race each other: recorded series flap between two expressions and alerts fire twice",
)

PROMETHEUS_RULE = "PrometheusRule"
_DURATION = re.compile(r"^(0|(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?)$")
_KEPT_TEXT = ("alert", "record", "expr")
_KEPT_DURATIONS = ("for", "keep_firing_for")
_KEPT_MAPS = ("labels", "annotations")
_SUCCESS = re.compile(r"^SUCCESS: (\d+) rules found$")
_LOCATED = re.compile(r'group "g(?P<group>\d+)", rule (?P<rule>\d+), "(?:[^"\\]|\\.)*": (?P<message>.*)$')


@dataclass
class _Group:
    """One group as written to a rule file, and what it came from."""

    doc: Document
    label: str  # how messages name the group: `group "name"` (empty for an AnalysisTemplate)
    rules: list[dict]  # the rules as written
    names: list[str]  # per rule, how messages name it: `alert "X"`, `record "x:y"`, `metric "m"`
    query: bool = False  # True for an AnalysisTemplate's queries


@dataclass
class _RuleFile:
    source: Source
    groups: list[int] = field(default_factory=list)  # indexes into _Batch.groups


class _Batch:
    """Everything written for one promtool run: one rule file per source, every group by its index."""

    def __init__(self) -> None:
        self.files: dict[int, _RuleFile] = {}  # id(source) -> its file
        self.groups: list[_Group] = []
        self.violations: list[Violation] = []

    def add(self, source: Source, group: _Group) -> None:
        self.files.setdefault(id(source), _RuleFile(source)).groups.append(len(self.groups))
        self.groups.append(group)

    def write(self, folder: Path) -> dict[str, _RuleFile]:
        """Write the rule files; return them by file name (as promtool prints it)."""
        named = {f"{n:03d}.rules.yaml": f for n, f in enumerate(self.files.values())}
        for name, rule_file in named.items():
            groups = [{"name": f"g{i}", "rules": self.groups[i].rules} for i in rule_file.groups]
            (folder / name).write_text(yaml.dump({"groups": groups}, Dumper=_DUMPER, sort_keys=False, width=10_000))
        return named


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's emitter: 20x faster, the same YAML


def check(sources: list[Source], ctx: Context) -> list[Violation]:
    batch = _Batch()
    for source in sources:
        for doc in source.documents:
            if doc.kind == PROMETHEUS_RULE and doc.group == "monitoring.coreos.com":
                _add_prometheus_rule(batch, source, doc)
            elif doc.kind in analysis.ANALYSIS_KINDS and doc.group == "argoproj.io":
                _add_analysis_template(batch, source, doc)
    meaning = promql_meaning.check(sources, ctx)  # first: it refuses an expression too long or deep to judge at once
    return batch.violations + (_run_promtool(batch, ctx) if batch.files else []) + meaning


def _add_prometheus_rule(batch: _Batch, source: Source, doc: Document) -> None:
    groups = (doc.obj.get("spec") or {}).get("groups")
    if not isinstance(groups, list):
        batch.violations.append(RULE_INVALID.violation(doc, "spec.groups is not a list of rule groups: fix the manifest's shape"))
        return
    for i, group in enumerate(groups):
        raw_rules = group.get("rules") if isinstance(group, dict) else None
        if not isinstance(raw_rules, list) or not all(isinstance(r, dict) for r in raw_rules):
            batch.violations.append(
                RULE_INVALID.violation(doc, f"spec.groups[{i}] is not a group with a list of rules: fix the manifest's shape")
            )
            continue
        names = [_rule_name(r) for r in raw_rules]
        label = f'group "{group.get("name", i)}"'
        batch.add(source, _Group(doc, label, [_promtool_rule(r) for r in raw_rules], names))


def _rule_name(raw: dict) -> str:
    for key in ("alert", "record"):
        if raw.get(key):
            return f'{key} "{raw[key]}"'
    return "a rule without alert or record"


def _promtool_rule(raw: dict) -> dict:
    """The rule as promtool's strict YAML decoder accepts it (see the module docstring)."""
    out: dict = {k: str(raw[k]) for k in _KEPT_TEXT if isinstance(raw.get(k), (str, int, float))}
    out.update({k: raw[k] for k in _KEPT_DURATIONS if isinstance(raw.get(k), str) and raw[k] and _DURATION.match(raw[k])})
    for key in _KEPT_MAPS:
        if isinstance(raw.get(key), dict):
            out[key] = {str(k): str(v) for k, v in raw[key].items() if isinstance(v, (str, int, float, bool))}
    return out


def _add_analysis_template(batch: _Batch, source: Source, doc: Document) -> None:
    metrics = analysis.prometheus_metrics(doc)
    for metric in (m for m in metrics if m.query is None):
        batch.violations.append(
            QUERY_INVALID.violation(
                doc, f'metric "{metric.name}": the prometheus provider has no query: set provider.prometheus.query'
            )
        )
    queried = [m for m in metrics if m.query is not None]
    if queried:
        # unique over the run: duplicate-rule lint must never pair two templates' queries
        rules = [{"record": f"analysis:check:{len(batch.groups)}:{n}", "expr": m.query} for n, m in enumerate(queried)]
        batch.add(source, _Group(doc, "", rules, [f'metric "{m.name}"' for m in queried], query=True))


def _run_promtool(batch: _Batch, ctx: Context) -> list[Violation]:
    folder = ctx.workdir / "promql"
    folder.mkdir(exist_ok=True)
    files = batch.write(folder)
    command = [ctx.tool("promtool"), "check", "rules", "--lint=duplicate-rules", *files]
    # stderr merged into stdout keeps promtool's order: a lint block follows its "Checking FILE" line.
    proc = runner.run(command, tool="promtool", settings=ctx.settings, cwd=folder, merge_stderr=True)
    output = _Output(batch, files)
    violations = output.parse(proc.stdout)
    if proc.returncode != 0 and not any(v.severity == "error" for v in violations):
        raise ToolError(f"promtool check rules failed (exit {proc.returncode}) without a finding: "
                        f"{runner.one_line(proc.stdout)}")
    output.account(proc.returncode, proc.stdout)
    return violations


class _Output:
    """Turns promtool's text into violations.

    Lines look like `FILE: [L:C: ]group "gN", rule K, "NAME": MESSAGE` (mapped to the rule), a
    duplicate-rule lint block (`lint error ...`, `Metric: X`, `Label(s):`, tab-indented labels, `Might
    cause ...`), or an error about a whole file (reported against the source, never dropped).
    """

    def __init__(self, batch: _Batch, files: dict[str, _RuleFile]):
        self.batch, self.files = batch, files
        self.current: _RuleFile | None = None
        self.current_name = ""
        self.duplicates: list[tuple[str, dict[str, str]]] = []
        self.violations: list[Violation] = []
        self.verdicts: dict[str, int | None] = {}  # file -> rules found (SUCCESS), None when FAILED

    def parse(self, text: str) -> list[Violation]:
        for line in text.split("\n"):  # not splitlines(): a U+0085 (NEL) in a quoted query ends no line
            self._line(line)
        self._flush_duplicates()
        return self.violations

    def account(self, returncode: int, text: str) -> None:
        """Never fail open: every rule file written must have promtool's verdict, `SUCCESS: N rules found`
        with N the rules written, or `FAILED:`. A silent exit 0 (or a verdict missing for a file) is a
        ToolError, not a pass."""
        missing = [name for name in self.files if name not in self.verdicts]
        if missing:
            raise ToolError(f"promtool check rules exited {returncode} without a verdict on {len(missing)} of "
                            f"{len(self.files)} rule file(s), e.g. the rules of {self.files[missing[0]].source.name}: "
                            f"{runner.one_line(text)}")
        for name, found in self.verdicts.items():
            written = sum(len(self.batch.groups[i].rules) for i in self.files[name].groups)
            if found is not None and found != written:
                raise ToolError(f"promtool check rules found {found} rule(s) in the rules of "
                                f"{self.files[name].source.name}, but {written} were written: a harness or tool bug")

    def _line(self, line: str) -> None:
        stripped = line.strip()
        if line.startswith("Checking "):
            self._flush_duplicates()
            self.current_name = stripped.removeprefix("Checking ")
            self.current = self.files.get(self.current_name)
        elif stripped == "FAILED:" or (success := _SUCCESS.match(stripped)):
            if self.current is not None:
                self.verdicts[self.current_name] = None if stripped == "FAILED:" else int(success[1])
        elif not stripped or stripped.startswith(("lint error", "Label(s):")):
            return
        elif stripped.startswith("Metric: "):
            self.duplicates.append((stripped.removeprefix("Metric: "), {}))
        elif line.startswith("\t") and self.duplicates and ": " in stripped:
            key, _, value = stripped.partition(": ")
            self.duplicates[-1][1][key] = value
        elif stripped.startswith("Might cause inconsistency"):
            self._flush_duplicates()
        elif located := _LOCATED.search(stripped):
            self.violations.append(self._located(located))
        else:
            self._unlocated(stripped)

    def _located(self, match: re.Match) -> Violation:
        group = self.batch.groups[int(match["group"])]
        index = int(match["rule"]) - 1
        name = group.names[index] if 0 <= index < len(group.names) else f"rule {index + 1}"
        message = match["message"]
        if group.query:
            return QUERY_INVALID.violation(
                group.doc, f"{name}: the query (args substituted) is not valid PromQL: {message}; fix it until promtool accepts it"
            )
        return RULE_INVALID.violation(group.doc, f"{group.label}, {name} does not load in Prometheus: {message}; fix it until promtool accepts it")

    def _unlocated(self, line: str) -> None:
        name, _, message = line.partition(": ")
        rule_file = self.files.get(name) or self.current
        where = rule_file.source.name if rule_file else "promtool"
        self.violations.append(
            RULE_INVALID.at(where, f"promtool rejected the rules of this source: {message or line}")
        )

    def _flush_duplicates(self) -> None:
        if self.current is None:
            self.duplicates = []
        for metric, labels in self.duplicates:
            self.violations += self._duplicate(metric, labels)
        self.duplicates = []

    def _duplicate(self, metric: str, labels: dict[str, str]) -> list[Violation]:
        assert self.current is not None
        holders: list[tuple[_Group, str]] = []
        for i in self.current.groups:
            group = self.batch.groups[i]
            for rule_, name in zip(group.rules, group.names):
                if metric in (rule_.get("alert"), rule_.get("record")) and rule_.get("labels", {}) == labels:
                    holders.append((group, name))
        shown = ", ".join(f"{k}={v}" for k, v in labels.items()) or "no labels"
        if not holders:  # promtool saw a duplicate we cannot place: still report it
            return [DUPLICATE_RULE.at(self.current.source.name, f'"{metric}" ({shown}) is defined more than once')]
        where = "; ".join(f"{g.doc.ref} {g.label}" for g, _ in holders)
        seen: set[int] = set()
        found = []
        for group, name in holders:
            if id(group.doc) not in seen:
                seen.add(id(group.doc))
                found.append(
                    DUPLICATE_RULE.violation(
                        group.doc,
                        f"{name} ({shown}) is defined {len(holders)} times in {self.current.source.name} "
                        f"({where}): remove the copy or give each a distinct name or labels",
                    )
                )
        return found
