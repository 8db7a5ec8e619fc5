"""WH-REF-056: an ApplicationSet generates only Applications gitops-check can enumerate. The references stage judges
an ApplicationSet's Applications by filling spec.template from its list generators' literal `elements`
(argocdsync.applications); what any other generator, a list generator's elementsYaml or own template, or a template
expression makes was never judged, and validate passed it (a red team's git generator with a broken template)."""

from __future__ import annotations

import json

import pytest

from conftest import FIXTURES, check_references
from gitops_check import references

HERE = FIXTURES / "references"
OVERLAY = "tests/fixtures/references/overlay"
ROLLOUT_OVERLAY = "tests/fixtures/references/overlay-rollout"


@pytest.fixture(scope="module")
def ctx(references_ctx):
    return references_ctx


run = check_references


def rules(ctx, text: str) -> list[str]:
    return [v.rule for v in run(ctx, text)]


PROJECT = """apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: web, namespace: argocd}
spec:
  sourceRepos: [https://github.com/company/webhook-gitops.git]
  destinations:
    - {server: https://kubernetes.default.svc, namespace: app}
"""

# A template the list generator fills (goTemplate): name from .env, path from .path.
TEMPLATE = """  template:
    metadata: {name: 'web-{{.env}}'}
    spec:
      project: web
      source: {repoURL: https://github.com/company/webhook-gitops.git, targetRevision: main, path: 'PATH'}
      destination: {server: https://kubernetes.default.svc, namespace: app}
"""


def appset(generators: str, path: str = "{{.path}}", go_template: bool = True, template: str = TEMPLATE) -> str:
    """PROJECT and an ApplicationSet with GENERATORS (the lines under spec.generators) and TEMPLATE, its source path
    PATH."""
    return PROJECT + f"""---
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {{name: web-envs, namespace: argocd}}
spec:
  goTemplate: {str(go_template).lower()}
  generators:
{generators}{template.replace("PATH", path)}"""


LIST = f"    - list:\n        elements:\n          - {{env: test, path: {OVERLAY}}}\n"

GENERATORS = {
    "git": "    - git:\n        repoURL: https://github.com/company/webhook-gitops.git\n        revision: main\n"
           "        directories: [{path: 'overlays/*'}]\n",
    "clusters": "    - clusters: {selector: {matchLabels: {env: production}}}\n",
    "matrix": "    - matrix:\n        generators:\n          - clusters: {}\n"
              f"          - list: {{elements: [{{env: test, path: {OVERLAY}}}]}}\n",
    "merge": "    - merge:\n        mergeKeys: [env]\n        generators:\n"
             f"          - list: {{elements: [{{env: test, path: {OVERLAY}}}]}}\n"
             f"          - list: {{elements: [{{env: test, path: {OVERLAY}}}]}}\n",
    "scmProvider": "    - scmProvider: {github: {organization: company}}\n",
    "pullRequest": "    - pullRequest: {github: {owner: company, repo: webhook-gitops}}\n",
    "clusterDecisionResource": "    - clusterDecisionResource: {configMapRef: placement, name: web}\n",
    "plugin": "    - plugin: {configMapRef: {name: my-plugin}}\n",
}


# --------------------------------------------------------------------------- generators other than list


def test_red_team_git_generator_passed_unjudged(ctx):
    """The fixture's git generator makes one Application per overlay folder; none was judged, validate passed it."""
    found = run(ctx, (HERE / "WH-REF-056.yaml").read_text())
    assert [(v.rule, v.kind, v.name) for v in found] == [("WH-REF-056", "ApplicationSet", "web-envs")]
    assert found[0].message.startswith("generators[0] is a git generator: ")
    assert "none of the Applications it generates is judged" in found[0].message
    assert "list generator's `elements`" in found[0].message


@pytest.mark.parametrize("generator", sorted(GENERATORS))
def test_every_generator_but_list_is_reported(ctx, generator):
    """Even with a template whose path names no overlay (WH-REF-032 for a list element): its Applications are unknown."""
    found = run(ctx, appset(GENERATORS[generator], path="does/not/exist"))
    assert [v.rule for v in found] == ["WH-REF-056"], [v.message for v in found]
    assert f"generators[0] is a {generator} generator" in found[0].message


def test_the_same_broken_template_from_a_list_element_is_judged(ctx):
    """What the reported generators hide: the list generator's Application is judged and fails."""
    assert rules(ctx, appset("    - list:\n        elements:\n          - {env: test, path: does/not/exist}\n")) == [
        "WH-REF-032"]


def test_an_unknown_generator_is_reported(ctx):
    found = run(ctx, appset("    - clusterProfile: {selector: {}}\n"))
    assert [v.rule for v in found] == ["WH-REF-056"] and "'clusterProfile' generator" in found[0].message


def test_each_generator_is_reported_with_its_index_and_list_elements_are_still_judged(ctx):
    text = appset(LIST + GENERATORS["git"] + GENERATORS["clusters"])
    found = run(ctx, text)
    assert [v.rule for v in found] == ["WH-REF-056", "WH-REF-056"]
    assert found[0].message.startswith("generators[1] is a git") and found[1].message.startswith("generators[2] is a clusters")
    broken = appset(LIST.replace(OVERLAY, "does/not/exist") + GENERATORS["git"])
    assert sorted(rules(ctx, broken)) == ["WH-REF-032", "WH-REF-056"]


def test_a_second_generator_in_the_same_entry_is_reported(ctx):
    """Argo CD runs every generator set in one generators[] entry (GetRelevantGenerators), not only the first."""
    entry = LIST + "      git: {repoURL: https://github.com/company/webhook-gitops.git, revision: main, files: [{path: x.json}]}\n"
    found = run(ctx, appset(entry))
    assert [v.rule for v in found] == ["WH-REF-056"] and found[0].message.startswith("generators[0] is a git generator")


@pytest.mark.parametrize(
    "generators",
    [
        LIST,
        LIST + "      selector: {matchLabels: {env: test}}\n",  # a selector only filters the elements
        LIST + "      git: null\n",  # a null generator is none (a nil pointer in Argo CD)
        LIST.replace("elements:", "elementsYaml: ''\n        elements:"),
        LIST.replace("elements:", "template: {metadata: {}, spec: {destination: {}}}\n        elements:"),
        "    - list: {elements: []}\n",
        "",
    ],
    ids=["list", "selector", "null-generator", "empty-elements-yaml", "empty-generator-template", "no-elements",
         "no-generators"],
)
def test_literal_list_elements_stay_clean(ctx, generators):
    assert rules(ctx, appset(generators or "    []\n")) == []


def test_the_clean_applicationset_fixture_stays_clean(ctx):
    assert rules(ctx, (HERE / "clean-argocd.yaml").read_text()) == []


# --------------------------------------------------------------------------- list generators gitops-check cannot read


def test_elements_yaml_is_reported(ctx):
    """Argo CD appends the elements it parses from elementsYaml (list.go) to `elements`; gitops-check reads `elements`."""
    generators = (LIST + "        elementsYaml: |\n"
                  "          - {env: prod, path: does/not/exist}\n")
    found = run(ctx, appset(generators))
    assert [v.rule for v in found] == ["WH-REF-056"]
    assert "generators[0].list.elementsYaml" in found[0].message and "literal key/value pairs" in found[0].message


def test_a_generator_template_is_reported(ctx):
    """A generator's template takes precedence over spec.template field by field (mergeGeneratorTemplate): here it
    sends the element's Application to a path that does not exist, and the template gitops-check fills is fine."""
    generators = LIST + ("        template:\n          metadata: {}\n          spec:\n"
                         "            source: {repoURL: https://github.com/company/webhook-gitops.git, path: does/not/exist}\n")
    found = run(ctx, appset(generators))
    assert [v.rule for v in found] == ["WH-REF-056"]
    assert "generators[0].list.template takes precedence over spec.template" in found[0].message


def test_a_generator_template_that_turns_on_ignored_differences_is_reported(ctx):
    generators = LIST.replace(OVERLAY, ROLLOUT_OVERLAY) + (
        "        template:\n          metadata: {}\n          spec:\n"
        "            syncPolicy: {syncOptions: [RespectIgnoreDifferences=true]}\n"
        "            ignoreDifferences: [{group: argoproj.io, kind: Rollout, jsonPointers: [/spec/template]}]\n")
    assert rules(ctx, appset(generators)) == ["WH-REF-056"]


# --------------------------------------------------------------------------- template text the elements do not fill


@pytest.mark.parametrize(
    "path",
    [
        "{{ .path | lower }}",  # a pipe to a function
        "{{- .path -}}",  # trim markers
        "{{ index . \"path\" }}",
        "{{ if .path }}{{ .path }}{{ else }}overlays/production{{ end }}",
        "{{.missing}}",  # a key the element lacks
        "{{.path}}/{{ printf \"%s\" .env }}",
    ],
)
def test_template_text_the_element_does_not_fill_is_reported(ctx, path):
    found = run(ctx, appset(LIST, path=path))
    assert [v.rule for v in found] == ["WH-REF-056"], [v.message for v in found]
    assert found[0].message.startswith("spec.template.spec.source.path ") and "list element 0 " in found[0].message


def test_unfilled_text_anywhere_in_the_template_is_reported(ctx):
    template = TEMPLATE.replace("metadata: {name: 'web-{{.env}}'}",
                                "metadata:\n      name: 'web-{{.env | upper}}'\n      labels: {'{{.env}}': x}")
    found = run(ctx, appset(LIST, template=template))
    assert [v.rule for v in found] == ["WH-REF-056", "WH-REF-056"]
    assert {v.message.split(" ", 1)[0] for v in found} == {"spec.template.metadata.name",
                                                           "spec.template.metadata.labels.{{.env}}"}


def test_unfilled_text_is_reported_once_with_the_elements_it_concerns(ctx):
    elements = "".join(f"          - {{env: e{n}, path: {OVERLAY}}}\n" for n in range(7))
    elements += f"          - {{env: e7, path: {OVERLAY}, extra: ''}}\n"
    found = run(ctx, appset(f"    - list:\n        elements:\n{elements}", path="{{.path}}{{.extra}}"))
    assert [v.rule for v in found] == ["WH-REF-056"]
    assert "list elements 0, 1, 2, 3, 4 and 2 more " in found[0].message


def test_a_key_only_some_elements_set_is_reported_for_those_that_lack_it(ctx):
    generators = (f"    - list:\n        elements:\n          - {{env: a, path: {OVERLAY}}}\n"
                  "          - {env: b}\n")
    found = run(ctx, appset(generators))
    assert [v.rule for v in found] == ["WH-REF-056"] and "list element 1 " in found[0].message


@pytest.mark.parametrize(
    ("generators", "path", "go_template"),
    [
        (LIST, "{{ .path }}", True),
        (LIST, "{{path}}", False),
        (LIST, "{{ path }}", False),
        (f"    - list:\n        elements:\n          - {{env: test, values: {{path: {OVERLAY}}}}}\n", "{{values.path}}", False),
        (f"    - list:\n        elements:\n          - {{env: test, dir: {{path: {OVERLAY}}}}}\n", "{{.dir.path}}", True),
        (LIST, OVERLAY, True),  # no placeholder at all
    ],
    ids=["spaces", "fasttemplate", "fasttemplate-spaces", "fasttemplate-values", "nested-key", "literal"],
)
def test_placeholders_the_elements_fill_stay_clean(ctx, generators, path, go_template):
    text = appset(generators, path=path, go_template=go_template)
    if not go_template:
        text = text.replace("{{.env}}", "{{env}}")
    assert rules(ctx, text) == []


# --------------------------------------------------------------------------- Argo CD's two template modes


def test_red_team_fasttemplate_reads_a_dotted_tag_as_a_literal_key(ctx):
    """Without goTemplate Argo CD looks `{{.path}}` up as the key ".path" (utils.go Render.Replace: the trimmed tag,
    literally); the harness read it as `path` and judged the fixture overlay while Argo CD deployed the other."""
    element = f"    - list:\n        elements:\n          - {{env: test, path: {OVERLAY}, .path: does/not/exist}}\n"
    text = appset(element, go_template=False).replace("{{.env}}", "{{env}}")
    found = run(ctx, text)
    assert sorted(v.rule for v in found) == ["WH-REF-032", "WH-REF-056"], [v.message for v in found]
    judged = next(v for v in found if v.rule == "WH-REF-032")
    assert "'does/not/exist'" in judged.message  # what Argo CD deploys is what is judged now
    refused = next(v for v in found if v.rule == "WH-REF-056")
    assert refused.message.startswith("list element 0 has the key '.path', with a '.'")
    assert "; rename the key without '.'" in refused.message


def test_red_team_go_template_follows_nested_mappings_never_a_dotted_key(ctx):
    """With goTemplate `{{.src.path}}` is the key path of the mapping src (text/template over map[string]any); a key
    named "src.path" is never read. The harness read the dotted key first."""
    element = (f"    - list:\n        elements:\n"
               f"          - {{env: test, src.path: {OVERLAY}, src: {{path: does/not/exist}}}}\n")
    found = run(ctx, appset(element, path="{{.src.path}}"))
    assert sorted(v.rule for v in found) == ["WH-REF-032", "WH-REF-056"], [v.message for v in found]
    assert "'does/not/exist'" in next(v for v in found if v.rule == "WH-REF-032").message
    assert "the key 'src.path'" in next(v for v in found if v.rule == "WH-REF-056").message


@pytest.mark.parametrize(
    ("element", "go_template"),
    [
        (f"{{env: test, path: {OVERLAY}, .hidden: x}}", True),
        (f"{{env: test, path: {OVERLAY}, values: {{a.b: x}}}}", False),
        (f"{{env: test, path: {OVERLAY}, deep: [{{k.v: x}}]}}", True),
    ],
    ids=["leading-dot", "in-values", "nested"],
)
def test_element_keys_with_a_dot_are_refused_at_any_depth(ctx, element, go_template):
    text = appset(f"    - list:\n        elements:\n          - {element}\n", go_template=go_template)
    if not go_template:
        text = text.replace("{{.env}}", "{{env}}").replace("{{.path}}", "{{path}}")
    found = run(ctx, text)
    assert [v.rule for v in found] == ["WH-REF-056"] and "with a '.'" in found[0].message


@pytest.mark.parametrize(
    ("path", "go_template"),
    [
        ("{{.path}}", False),  # fasttemplate: the key ".path", which the element lacks
        ("{{path}}", True),  # text/template: a call of a function `path`, which does not exist
        ("{{values.path}}", True),
        ("{{\x1cpath}}", False),  # Go's TrimSpace keeps \x1c (Python's strip() does not)
        ("{{\npath}}", False),  # isTemplatedRegex: no line holds `{{` and `}}`, Argo CD leaves the text as it is
        ("{{path}", False),  # no end tag: fasttemplate refuses the template
    ],
    ids=["fast-dot", "go-bare", "go-values", "go-trimspace", "fast-newline", "fast-unclosed"],
)
def test_placeholders_read_in_the_other_mode_are_not_filled(ctx, path, go_template):
    elements = f"    - list:\n        elements:\n          - {{env: test, path: {OVERLAY}, values: {{path: {OVERLAY}}}}}\n"
    text = appset(elements, path=json.dumps(path)[1:-1], go_template=go_template)
    if not go_template:
        text = text.replace("{{.env}}", "{{env}}")
    found = run(ctx, text)
    assert [v.rule for v in found] == ["WH-REF-056"], [v.message for v in found]
    assert found[0].message.startswith("spec.template.spec.source.path ")


def test_fill_mirrors_argo_cds_modes():
    from gitops_check.argocdsync import fast_params, fill

    element = {"env": "prod", "n": 3, "big": 1_000_000, "on": True, "f": 1.5, "values": {"path": "x", "n": 2},
               "src": {"path": "nested"}, ".path": "dotted"}
    fast = fast_params(element)
    assert fast == {"env": "prod", "values.path": "x", ".path": "dotted"}  # strings only (list.go)
    assert fill("{{ env }}-{{.path}}-{{values.path}}", element, fast) == ("prod-dotted-x", True)
    assert fill("{{n}}/{{src.path}}", element, fast) == ("{{n}}/{{src.path}}", False)
    assert fill("{{.src.path}}|{{ .n }}|{{.on}}|{{.env}}", element, None) == ("nested|3|true|prod", True)
    for unfilled in ("{{.big}}", "{{.f}}", "{{.src}}", "{{.path}}", "{{ .env | upper }}", "{{- .env }}", "{{env}}"):
        assert fill(unfilled, element, None)[1] is False, unfilled  # fmt prints 1e+06, 1.5, map[...]; no key 'path'
    assert fill("no placeholder", element, None) == ("no placeholder", True)


@pytest.mark.parametrize("go_template", [True, False])
def test_an_element_value_with_braces_is_literal(ctx, go_template):
    """Argo CD fills a value once: `{{x}}` in an element stays `{{x}}` in the Application, a folder of that name. The
    harness skipped such a path as unresolved, unjudged."""
    elements = "    - list:\n        elements:\n          - {env: test, path: 'no/{{x}}'}\n"
    text = appset(elements, go_template=go_template)
    if not go_template:
        text = text.replace("{{.env}}", "{{env}}").replace("{{.path}}", "{{path}}")
    found = run(ctx, text)
    assert [v.rule for v in found] == ["WH-REF-032"] and "'no/{{x}}'" in found[0].message


# --------------------------------------------------------------------------- the template budget


def _many(elements: int, strings: int) -> list:
    from gitops_check.model import Document

    appset = {"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "metadata": {"name": "s", "namespace": "argocd"},
              "spec": {"generators": [{"list": {"elements": [{"x": "v"} for _ in range(elements)]}}],
                       "template": {"metadata": {"name": "app", "annotations": {f"a{i}": "{{x}}" for i in range(strings)}},
                                    "spec": {"project": "default", "source": {"repoURL": "https://example.com/r.git",
                                                                               "path": "overlays/staging"},
                                             "destination": {"namespace": "webhook-service"}}}}}
    return [Document(appset, "appset.yaml")]


@pytest.mark.parametrize(("elements", "strings"), [(1500, 1500), (3000, 3000)])
def test_red_team_elements_times_placeholders_are_refused_at_once(ctx, elements, strings):
    """N elements × M template strings `{{x}}` is N×M substitutions, twice (argocdsync.substitute, argocd._unfilled):
    1,500×1,500 took 12 s, 3,000×3,000 37 s, and the character budget never tripped (each adds one character). Now
    one line, exit 2, before any is filled."""
    from gitops_check import argocdsync
    from gitops_check.errors import InputError
    from gitops_check.model import Source

    with pytest.raises(InputError) as refused:
        list(argocdsync.applications(_many(elements, strings)))
    assert str(refused.value) == (
        f"appset.yaml: ApplicationSet/argocd/s: {elements:,} list elements × a template of {strings + 10:,} fields and "
        f"{strings:,} placeholders are more than the 500,000 substitutions gitops-check makes per source: refused")
    with pytest.raises(InputError):
        references.check([Source("appset.yaml", "file", _many(elements, strings))], ctx)


def test_a_fleet_sized_application_set_is_still_judged():
    from gitops_check import argocdsync

    apps = list(argocdsync.applications(_many(300, 300)))  # 300 × 609: within the budget
    assert len(apps) == 300 and apps[-1].meta["annotations"]["a299"] == "v" and not apps[-1].unfilled


def test_templated_text_is_bounded_too():
    from gitops_check import argocdsync
    from gitops_check.errors import InputError

    docs = _many(200, 1)
    docs[0].obj["spec"]["template"]["metadata"]["annotations"]["a0"] = "{{x}}" + "y" * 400_000
    with pytest.raises(InputError, match=r"200 list elements × 400,005 characters of templated text are more than "
                                         r"67,108,864 characters: refused"):
        list(argocdsync.applications(docs))


def test_the_applications_and_substitutions_of_a_source_are_bounded_together():
    """Every check reads every Application an ApplicationSet makes (10,000 take the references stage about 2 s): more
    are refused, and the ApplicationSets of one source share both budgets."""
    from gitops_check import argocdsync
    from gitops_check.errors import InputError

    with pytest.raises(InputError, match=r"^appset.yaml: ApplicationSet/argocd/s: 10,001 list elements make more "
                                         r"Applications than the 10,000 Applications gitops-check judges per source: "
                                         r"refused$"):
        list(argocdsync.applications(_many(10_001, 0)))
    first, second = _many(500, 390), _many(300, 390)  # 500 × 790 = 395,000; then 300 × 790 = 237,000
    second[0].obj["metadata"]["name"] = "t"
    with pytest.raises(InputError, match=r"ApplicationSet/argocd/t: 300 list elements × a template of 400 fields and "
                                         r"390 placeholders are more than the 105,000 substitutions the source's other "
                                         r"ApplicationSets leave of the 500,000 gitops-check makes per source: refused"):
        list(argocdsync.applications(first + second))
    assert len(list(argocdsync.applications(second))) == 300
