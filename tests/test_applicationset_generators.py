"""WH-REF-056: an ApplicationSet generates only Applications gitops-check can enumerate. The references stage judges
an ApplicationSet's Applications by filling spec.template from its list generators' literal `elements`
(argocdsync.applications); what any other generator, a list generator's elementsYaml or own template, or a template
expression makes was never judged, and validate passed it (a red team's git generator with a broken template)."""

from __future__ import annotations

import pytest

# The references stage's fixture folder, overlays, context and AppProject, as the sync-safety tests use them.
from test_argocd_sync_safety import HERE, OVERLAY, PROJECT, ROLLOUT_OVERLAY, ctx, rules, run  # noqa: F401 (ctx: a fixture)

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
