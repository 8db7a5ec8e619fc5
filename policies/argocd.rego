# Argo CD objects: Applications (and ApplicationSet templates) that sync themselves fully and safely,
# and AppProjects that really fence what an Application may deploy and where.
package webhook.argocd

# The Application spec(s) of the input: the Application's own or the ApplicationSet's template.
app_specs contains input.spec if input.kind == "Application"

app_specs contains input.spec.template.spec if input.kind == "ApplicationSet"

sources contains s if {
	some spec in app_specs
	s := spec.source
}

sources contains s if {
	some spec in app_specs
	some s in spec.sources
}

# METADATA
# title: No AppProject redefines the default project
# description: The default project allows every repository, cluster and namespace; an AppProject named default changes what every Application left in it may do. (An Application in the default project, generated ones included, is the references stage's finding, WH-REF-035.)
# custom:
#   id: WH-ARGO-001
#   severity: error
deny contains {"rule": "WH-ARGO-001", "msg": msg} if {
	input.kind == "AppProject"
	input.metadata.name == "default"
	msg := "this AppProject redefines the default project: give the service its own AppProject name"
}

# METADATA
# title: Automated sync with prune and selfHeal
# description: Without automated prune and selfHeal the cluster drifts from git (manual edits stay, deleted objects linger) and GitOps no longer holds.
# custom:
#   id: WH-ARGO-002
#   severity: error
deny contains {"rule": "WH-ARGO-002", "msg": msg} if {
	some spec in app_specs
	not automated(spec)
	msg := "sync is not automated: set syncPolicy.automated with prune: true and selfHeal: true"
}

deny contains {"rule": "WH-ARGO-002", "msg": msg} if {
	some spec in app_specs
	automated(spec)
	some field in ["prune", "selfHeal"]
	not spec.syncPolicy.automated[field] == true
	msg := sprintf("syncPolicy.automated.%s is not true: set it so git stays the single source of truth", [field])
}

automated(spec) if {
	is_object(spec.syncPolicy.automated)
	object.get(spec.syncPolicy.automated, "enabled", true) != false
}

# METADATA
# title: Server-side apply is enabled
# description: Client-side apply stores the whole object in an annotation that large CRDs and Rollouts overflow, and fights other field managers such as the HPA.
# custom:
#   id: WH-ARGO-003
#   severity: error
deny contains {"rule": "WH-ARGO-003", "msg": msg} if {
	some spec in app_specs
	not "ServerSideApply=true" in object.get(spec, ["syncPolicy", "syncOptions"], [])
	msg := "syncPolicy.syncOptions lacks ServerSideApply=true: add it"
}

# METADATA
# title: targetRevision is not a floating HEAD
# description: HEAD (or no targetRevision) follows whatever the repository's default branch is; pin the branch or tag that is meant to be deployed.
# custom:
#   id: WH-ARGO-004
#   severity: warning
warn contains {"rule": "WH-ARGO-004", "msg": msg} if {
	some s in sources
	object.get(s, "targetRevision", "") in {"", "HEAD"}
	msg := sprintf("source %s follows HEAD: set targetRevision to the deployed branch or tag (e.g. main)", [object.get(s, "repoURL", "")])
}

# METADATA
# title: The destination names exactly one cluster
# description: A destination needs either a cluster name or a server URL (not both); otherwise Argo CD refuses the Application or picks the wrong cluster.
# custom:
#   id: WH-ARGO-005
#   severity: error
deny contains {"rule": "WH-ARGO-005", "msg": msg} if {
	some spec in app_specs
	targets := [f | some f in ["name", "server"]; object.get(spec, ["destination", f], "") != ""]
	count(targets) != 1
	msg := "spec.destination must set exactly one of name or server (e.g. server: https://kubernetes.default.svc)"
}

# METADATA
# title: AppProjects allow only listed source repositories
# description: sourceRepos "*" lets any Application of the project deploy from any repository, including a fork.
# custom:
#   id: WH-ARGO-006
#   severity: error
deny contains {"rule": "WH-ARGO-006", "msg": msg} if {
	input.kind == "AppProject"
	some repo in input.spec.sourceRepos
	contains(repo, "*")
	msg := sprintf("sourceRepos contains %q: list the exact repository URLs", [repo])
}

# METADATA
# title: AppProjects allow only listed destinations
# description: A wildcard server, cluster name or namespace lets the project's Applications deploy anywhere, including kube-system.
# custom:
#   id: WH-ARGO-007
#   severity: error
deny contains {"rule": "WH-ARGO-007", "msg": msg} if {
	input.kind == "AppProject"
	some i, d in input.spec.destinations
	some field in ["server", "name", "namespace"]
	object.get(d, field, "") == "*"
	msg := sprintf("destinations[%d].%s is \"*\": name the cluster and namespace", [i, field])
}

# METADATA
# title: AppProjects do not whitelist every cluster-scoped resource
# description: group "*" with kind "*" lets the project create ClusterRoles, webhooks and CRDs, which is cluster admin.
# custom:
#   id: WH-ARGO-008
#   severity: error
deny contains {"rule": "WH-ARGO-008", "msg": msg} if {
	input.kind == "AppProject"
	some i, r in input.spec.clusterResourceWhitelist
	r.group == "*"
	r.kind == "*"
	msg := sprintf("clusterResourceWhitelist[%d] allows every cluster-scoped kind: list only the kinds needed (e.g. Namespace)", [i])
}

# Argo CD annotations on the service's own objects (any kind): hooks and sync options that make a sync
# delete, recreate or skip what serves traffic. Argo CD splits both annotations on "," and trims each
# entry (as gitops_check/argocdsync.py sync_options does), and compares entries exactly.
annotation_entries(name) := {trim_space(e) |
	value := object.get(input, ["metadata", "annotations", name], "")
	is_string(value)
	some e in split(value, ",")
	trim_space(e) != ""
}

hook_annotation := "argocd.argoproj.io/hook"

helm_hook_annotation := "helm.sh/hook"

sync_options_annotation := "argocd.argoproj.io/sync-options"

# The kinds that are meant to run as a hook: they run to completion and are deleted and recreated per sync.
hook_kinds := {"Job", "Pod"}

# Which objects Argo CD runs as hooks, and in which sync phase, as gitops-engine reads the annotations (Argo CD
# v3.5.1, gitops-engine/pkg/sync/hook/hook.go IsHook and Types, hook/helm/hook.go and hook/helm/type.go): the
# hook types of argocd.argoproj.io/hook; when it names none, those helm.sh/hook maps onto them (other Helm values
# map to nothing). gitops-engine's common.NewHookType knows PreSync, Sync, PostSync, SyncFail and Skip only
# (gitops-engine/pkg/sync/common/types.go), so PreDelete and PostDelete are no hook types there: "PreDelete,Skip" has
# the types [Skip]. The object is a hook when argocd.argoproj.io/hook is present, whatever its value, unless its
# only type is Skip; without it, when helm.sh/hook is present and not exactly crd-install.
annotations := a if {
	a := object.get(input, ["metadata", "annotations"], {})
	is_object(a)
} else := {}

argo_hook_types := {"PreSync", "Sync", "PostSync", "SyncFail", "Skip"}

helm_hook_types := {"pre-install": "PreSync", "pre-upgrade": "PreSync", "post-install": "PostSync", "post-upgrade": "PostSync"}

argo_types := annotation_entries(hook_annotation) & argo_hook_types

hook_types := argo_types if count(argo_types) > 0

hook_types := {helm_hook_types[e] | some e in annotation_entries(helm_hook_annotation)} if count(argo_types) == 0

has_annotation(name) if name in object.keys(annotations)

is_hook if {
	has_annotation(hook_annotation)
	hook_types != {"Skip"}
}

is_hook if {
	not has_annotation(hook_annotation)
	annotations[helm_hook_annotation] != "crd-install"
}

# PreDelete and PostDelete hooks are Argo CD's controller's, not gitops-engine's (Argo CD v3.5.1 controller/hook.go
# isPreDeleteHook and isPostDeleteHook): an entry PreDelete or PostDelete of argocd.argoproj.io/hook, or pre-delete or
# post-delete of helm.sh/hook, each annotation read on its own (the Helm one even next to Argo CD's). Such an object
# without a sync phase among its gitops-engine types (hasGitOpsEngineSyncPhaseHook) is left out of every sync
# (controller/state.go partitionTargetObjsForSync) and only created when the Application is deleted (executeHooks,
# which asks isHookOfType alone, so a Skip next to it changes nothing): a deletion hook, on a Job or Pod; never
# applied, on anything else. With a sync phase it is also synced as that hook.
deletion_hook if count(annotation_entries(hook_annotation) & {"PreDelete", "PostDelete"}) > 0

deletion_hook if count(annotation_entries(helm_hook_annotation) & {"pre-delete", "post-delete"}) > 0

hook_annotations_text := concat(" and ", [sprintf("%s: %q", [name, annotations[name]]) |
	some name in [hook_annotation, helm_hook_annotation]
	is_string(annotations[name])
])

# METADATA
# title: Sync hooks are Jobs or Pods, and no object is skipped
# description: An object Argo CD reads as a hook is not synced but run as one, and with the default BeforeHookCreation policy deleted and recreated on every sync; on a Namespace that deletes everything in it, on a Rollout or Service it is downtime. Argo CD reads argocd.argoproj.io/hook (any value but Skip alone) and, when that is absent, helm.sh/hook (any value but exactly crd-install), which it maps onto its own hooks, pre-install and pre-upgrade to PreSync, post-install and post-upgrade to PostSync (gitops-engine/pkg/sync/hook/hook.go and hook/helm/type.go in Argo CD v3.5.1; its docs/user-guide/helm.md, "Helm Hooks"), so a Helm chart's annotation left on a rendered object makes it a hook too. A hook that runs in no sync phase is left out of every sync, so the object is never applied. That is an empty or unknown value or a Helm value without a mapping (gitops-engine/pkg/sync/ignore), and a PreDelete or PostDelete hook (argocd.argoproj.io/hook, or helm.sh/hook pre-delete/post-delete) on anything but a Job or Pod, which Argo CD's controller keeps out of the sync and only creates when the Application is deleted (controller/state.go partitionTargetObjsForSync, controller/hook.go). Skip as the one hook type gitops-engine knows (hook.Skip; its common.NewHookType knows PreSync, Sync, PostSync, SyncFail and Skip only, so "PreDelete,Skip" is Skip alone while "PreSync,Skip" is a PreSync hook) means Argo CD never applies the object at all, so the release is never rolled out; a Job or Pod that is also a deletion hook still runs when the Application is deleted.
# custom:
#   id: WH-ARGO-009
#   severity: error
deny contains {"rule": "WH-ARGO-009", "msg": msg} if {
	not input.kind in hook_kinds
	is_hook
	phases := hook_types - {"Skip"}
	count(phases) > 0
	msg := sprintf("the %s has %s, so Argo CD deletes and recreates it as a %s hook on every sync instead of syncing it: remove the annotation (only Jobs and Pods may be hooks)", [input.kind, hook_annotations_text, concat(",", sort(phases))])
}

deny contains {"rule": "WH-ARGO-009", "msg": msg} if {
	is_hook
	count(hook_types) == 0
	not deletion_hook_of_a_hook_kind
	msg := sprintf("the %s has %s, which Argo CD reads as a hook of no sync phase, so no sync ever applies it: remove the annotation", [input.kind, hook_annotations_text])
}

deletion_hook_of_a_hook_kind if {
	input.kind in hook_kinds
	deletion_hook
}

# Skip when it is the one hook type gitops-engine knows among the entries (hook.Skip over Types()): "PreSync,Skip"
# runs as a PreSync hook, but "PreDelete,Skip" is [Skip] (NewHookType drops PreDelete). A Job or Pod that is also a
# deletion hook still runs as one when the Application is deleted (controller/hook.go isHookOfType ignores Skip).
deny contains {"rule": "WH-ARGO-009", "msg": msg} if {
	argo_types == {"Skip"}
	not deletion_hook_of_a_hook_kind
	msg := sprintf("the %s has %s, whose only hook type Argo CD knows is Skip, so %s: remove the annotation", [input.kind, hook_annotations_text, skip_consequence])
}

skip_consequence := "no sync applies it and Argo CD only creates it when the Application is deleted, as a deletion hook" if {
	deletion_hook
} else := "Argo CD never applies it"

# The kinds whose deletion is downtime: what serves traffic and what routes it.
replace_sensitive_kinds := {"Rollout", "Deployment", "StatefulSet", "DaemonSet", "Service"}

destructive_sync_options := {"Replace=true", "Force=true"}

# METADATA
# title: No Replace or Force sync option on workloads and Services
# description: With Replace=true Argo CD replaces the object (kubectl replace/create), and with Force=true it deletes and re-creates it when the update fails; on a Rollout, Deployment, StatefulSet, DaemonSet or Service that drops every pod or endpoint on a sync, i.e. downtime. An Application whose syncOptions set either does the same to every object it syncs.
# custom:
#   id: WH-ARGO-010
#   severity: error
deny contains {"rule": "WH-ARGO-010", "msg": msg} if {
	input.kind in replace_sensitive_kinds
	some option in (annotation_entries(sync_options_annotation) & destructive_sync_options)
	msg := sprintf("the %s has %s %s, so Argo CD deletes and re-creates it on a sync (downtime): remove the option and let server-side apply update it in place", [input.kind, sync_options_annotation, option])
}

deny contains {"rule": "WH-ARGO-010", "msg": msg} if {
	some spec in app_specs
	some option in object.get(spec, ["syncPolicy", "syncOptions"], [])
	trim_space(option) in destructive_sync_options
	msg := sprintf("syncPolicy.syncOptions has %s, so Argo CD deletes and re-creates every object it syncs (downtime): remove it", [trim_space(option)])
}
