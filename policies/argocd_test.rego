package webhook.argocd_test

import data.webhook.argocd

app_spec := {
	"project": "webhook-delivery",
	"source": {"repoURL": "https://github.com/company/gitops.git", "targetRevision": "main", "path": "overlays/production"},
	"destination": {"server": "https://kubernetes.default.svc", "namespace": "webhook-service"},
	"syncPolicy": {"automated": {"prune": true, "selfHeal": true}, "syncOptions": ["ServerSideApply=true"]},
}

app(spec) := {"kind": "Application", "metadata": {"name": "x"}, "spec": spec}

appset(spec) := {"kind": "ApplicationSet", "metadata": {"name": "x"}, "spec": {"template": {"spec": spec}}}

project(spec) := {"kind": "AppProject", "metadata": {"name": "webhook-delivery"}, "spec": spec}

test_clean_application_and_set_pass if {
	count(argocd.deny | argocd.warn) == 0 with input as app(app_spec)
	count(argocd.deny | argocd.warn) == 0 with input as appset(app_spec)
}

test_application_rules if {
	every case in [
		[json.remove(app_spec, ["syncPolicy/automated"]), "WH-ARGO-002"],
		[object.union(app_spec, {"syncPolicy": {"automated": {"enabled": false}}}), "WH-ARGO-002"],
		[json.remove(app_spec, ["syncPolicy/automated/prune"]), "WH-ARGO-002"],
		[json.remove(app_spec, ["syncPolicy/syncOptions"]), "WH-ARGO-003"],
		[object.union(app_spec, {"source": {"targetRevision": "HEAD"}}), "WH-ARGO-004"],
		[json.remove(app_spec, ["source/targetRevision"]), "WH-ARGO-004"],
		[object.union(app_spec, {"destination": {"name": "in-cluster"}}), "WH-ARGO-005"],
		[json.remove(app_spec, ["destination/server"]), "WH-ARGO-005"],
	] {
		rules := {r.rule | some r in (argocd.deny | argocd.warn)} with input as appset(case[0])
		rules == {case[1]}
	}
}

test_application_in_the_default_project_is_left_to_the_references_stage if {
	# WH-REF-035 reports every Application (ApplicationSet-generated ones included) in the default project
	every spec in [object.union(app_spec, {"project": "default"}), object.union(app_spec, {"project": ""}), json.remove(app_spec, ["project"])] {
		count(argocd.deny | argocd.warn) == 0 with input as app(spec)
		count(argocd.deny | argocd.warn) == 0 with input as appset(spec)
	}
}

test_multi_source_revisions if {
	spec := object.union(json.remove(app_spec, ["source"]), {"sources": [app_spec.source, {"repoURL": "https://charts.example.com", "chart": "x"}]})
	{r.rule | some r in argocd.warn} == {"WH-ARGO-004"} with input as app(spec)
}

test_project_rules if {
	good := {
		"sourceRepos": ["https://github.com/company/gitops.git"],
		"destinations": [{"server": "https://kubernetes.default.svc", "namespace": "webhook-service"}],
		"clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
	}
	count(argocd.deny) == 0 with input as project(good)
	every case in [
		[object.union(good, {"sourceRepos": ["https://github.com/company/*"]}), "WH-ARGO-006"],
		[object.union(good, {"destinations": [{"server": "*", "namespace": "webhook-service"}]}), "WH-ARGO-007"],
		[object.union(good, {"clusterResourceWhitelist": [{"group": "*", "kind": "*"}]}), "WH-ARGO-008"],
	] {
		{r.rule | some r in argocd.deny} == {case[1]} with input as project(case[0])
	}
	{r.rule | some r in argocd.deny} == {"WH-ARGO-001"} with input as json.patch(project(good), [{"op": "replace", "path": "/metadata/name", "value": "default"}])
}

test_only_an_appproject_named_default_redefines_it if {
	count(argocd.deny) == 0 with input as project({"sourceRepos": ["https://github.com/company/gitops.git"], "destinations": [{"server": "https://kubernetes.default.svc", "namespace": "webhook-service"}]})
	count(argocd.deny) == 0 with input as {"kind": "ConfigMap", "metadata": {"name": "default"}}
}

obj(kind, annotations) := {"kind": kind, "metadata": {"name": "webhook-service", "annotations": annotations}}

test_hook_annotations if {
	every case in [
		[obj("Namespace", {"argocd.argoproj.io/hook": "PreSync"}), {"WH-ARGO-009"}],
		[obj("Rollout", {"argocd.argoproj.io/hook": "PostSync, SyncFail"}), {"WH-ARGO-009"}],
		[obj("Rollout", {"argocd.argoproj.io/hook": "Skip"}), {"WH-ARGO-009"}],
		[obj("ConfigMap", {"argocd.argoproj.io/hook": "PreSync,Skip"}), {"WH-ARGO-009"}],
		[obj("Job", {"argocd.argoproj.io/hook": " Skip"}), {"WH-ARGO-009"}],
		[obj("Job", {"argocd.argoproj.io/hook": "Skip,Bogus"}), {"WH-ARGO-009"}],
		# Skip with another type gitops-engine knows is that other hook (hook.Skip: only when it is the one type)
		[obj("Job", {"argocd.argoproj.io/hook": "PreSync,Skip"}), set()],
		[obj("Job", {"argocd.argoproj.io/hook": "PostDelete,Skip"}), set()],
		[obj("Job", {"argocd.argoproj.io/hook": "PreSync", "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation"}), set()],
		[obj("Pod", {"argocd.argoproj.io/hook": "PostSync"}), set()],
		[obj("Namespace", {"argocd.argoproj.io/sync-wave": "-2"}), set()],
		# present but empty: gitops-engine's IsHook only asks whether the key exists, and a hook of no type is
		# left out of the sync (ignore.Ignore), so the Namespace would never be applied
		[obj("Namespace", {"argocd.argoproj.io/hook": ""}), {"WH-ARGO-009"}],
		[obj("Job", {"argocd.argoproj.io/hook": "PreSnyc"}), {"WH-ARGO-009"}],
		[obj("Rollout", {"argocd.argoproj.io/hook": "PostDelete"}), {"WH-ARGO-009"}],
		[obj("Job", {"argocd.argoproj.io/hook": "PostDelete"}), set()],
	] {
		{r.rule | some r in argocd.deny} == case[1] with input as case[0]
	}
}

test_helm_hook_annotations if {
	# Argo CD maps helm.sh/hook onto its own hooks (gitops-engine pkg/sync/hook/helm): pre-* PreSync, post-* PostSync
	every case in [
		[obj("Rollout", {"helm.sh/hook": "pre-install"}), {"WH-ARGO-009"}],
		[obj("Service", {"helm.sh/hook": "post-install, post-upgrade"}), {"WH-ARGO-009"}],
		[obj("ConfigMap", {"helm.sh/hook": "pre-upgrade", "helm.sh/hook-weight": "-1"}), {"WH-ARGO-009"}],
		# a Helm value Argo CD maps to no phase still makes a hook, one no sync applies (any kind)
		[obj("Rollout", {"helm.sh/hook": "test"}), {"WH-ARGO-009"}],
		[obj("Job", {"helm.sh/hook": "test-success"}), {"WH-ARGO-009"}],
		[obj("Namespace", {"helm.sh/hook": " crd-install"}), {"WH-ARGO-009"}],
		# Jobs and Pods may be hooks; crd-install (exactly) is not a hook; pre-delete runs on the Application's deletion
		[obj("Job", {"helm.sh/hook": "pre-install,pre-upgrade", "helm.sh/hook-delete-policy": "before-hook-creation"}), set()],
		[obj("Pod", {"helm.sh/hook": "post-install"}), set()],
		[obj("CustomResourceDefinition", {"helm.sh/hook": "crd-install"}), set()],
		[obj("Job", {"helm.sh/hook": "pre-delete"}), set()],
		[obj("Rollout", {"helm.sh/hook-weight": "5", "helm.sh/resource-policy": "keep"}), set()],
		# Argo CD's own annotation wins: the Helm one is ignored next to it
		[obj("Job", {"argocd.argoproj.io/hook": "PreSync", "helm.sh/hook": "test"}), set()],
		[obj("Rollout", {"argocd.argoproj.io/hook": "PostSync", "helm.sh/hook": "pre-install"}), {"WH-ARGO-009"}],
	] {
		{r.rule | some r in argocd.deny} == case[1] with input as case[0]
	}
}

test_helm_hook_message_says_what_argo_cd_does if {
	msgs := {r.msg | some r in argocd.deny} with input as obj("Rollout", {"helm.sh/hook": "pre-upgrade"})
	msgs == {`the Rollout has helm.sh/hook: "pre-upgrade", so Argo CD deletes and recreates it as a PreSync hook on every sync instead of syncing it: remove the annotation (only Jobs and Pods may be hooks)`}
	some m in argocd.deny with input as obj("Rollout", {"helm.sh/hook": "test"})
	contains(m.msg, "no sync ever applies it: remove the annotation")
}

test_hook_message_names_the_kind_and_fix if {
	some r in argocd.deny with input as obj("Namespace", {"argocd.argoproj.io/hook": "PreSync"})
	contains(r.msg, "Namespace")
	contains(r.msg, ": remove the annotation")
}

test_replace_and_force_sync_options if {
	every case in [
		[obj("Rollout", {"argocd.argoproj.io/sync-options": "Replace=true"}), {"WH-ARGO-010"}],
		[obj("Service", {"argocd.argoproj.io/sync-options": "ServerSideApply=true, Force=true"}), {"WH-ARGO-010"}],
		[obj("Deployment", {"argocd.argoproj.io/sync-options": "Force=true,Replace=true"}), {"WH-ARGO-010"}],
		[obj("StatefulSet", {"argocd.argoproj.io/sync-options": "Replace=true"}), {"WH-ARGO-010"}],
		[obj("Rollout", {"argocd.argoproj.io/sync-options": "Replace=false,ServerSideApply=true"}), set()],
		[obj("Rollout", {"argocd.argoproj.io/sync-options": "PruneLast=true"}), set()],
		[obj("ConfigMap", {"argocd.argoproj.io/sync-options": "Replace=true"}), set()],
		[app(object.union(app_spec, {"syncPolicy": {"syncOptions": ["ServerSideApply=true", "Replace=true"]}})), {"WH-ARGO-010"}],
		[appset(object.union(app_spec, {"syncPolicy": {"syncOptions": ["ServerSideApply=true", "Force=true"]}})), {"WH-ARGO-010"}],
	] {
		{r.rule | some r in argocd.deny} == case[1] with input as case[0]
	}
}

test_skip_next_to_a_deletion_hook_is_skip if {
	# gitops-engine's common.NewHookType (Argo CD v3.5.1) knows PreSync, Sync, PostSync, SyncFail and Skip only, so
	# "PreDelete,Skip" has the types [Skip]; with no sync phase, controller/state.go partitionTargetObjsForSync keeps
	# the object out of every sync anyway, and controller/hook.go only creates it when the Application is deleted
	every case in [
		obj("Rollout", {"argocd.argoproj.io/hook": "PreDelete,Skip"}),
		obj("Rollout", {"argocd.argoproj.io/hook": "PostDelete, Skip"}),
		obj("Service", {"argocd.argoproj.io/hook": "Skip,PreDelete,PostDelete"}),
		obj("ConfigMap", {"argocd.argoproj.io/hook": "Skip", "helm.sh/hook": "post-delete"}),
		obj("Namespace", {"argocd.argoproj.io/hook": "PostDelete,Skip,Bogus"}),
	] {
		{r.rule | some r in argocd.deny} == {"WH-ARGO-009"} with input as case
	}
	msgs := {r.msg | some r in argocd.deny} with input as obj("Rollout", {"argocd.argoproj.io/hook": "PreDelete,Skip"})
	msgs == {`the Rollout has argocd.argoproj.io/hook: "PreDelete,Skip", whose only hook type Argo CD knows is Skip, so no sync applies it and Argo CD only creates it when the Application is deleted, as a deletion hook: remove the annotation`}
	msgs_skip := {r.msg | some r in argocd.deny} with input as obj("Rollout", {"argocd.argoproj.io/hook": "Skip"})
	msgs_skip == {`the Rollout has argocd.argoproj.io/hook: "Skip", whose only hook type Argo CD knows is Skip, so Argo CD never applies it: remove the annotation`}
}

test_deletion_hooks_as_argo_cd_reads_them if {
	every case in [
		# a Job or Pod deletion hook runs when the Application is deleted: controller/hook.go executeHooks asks
		# isHookOfType only, which finds the entry whatever else the annotation names (Skip included) and reads
		# helm.sh/hook on its own, even next to argocd.argoproj.io/hook
		[obj("Pod", {"argocd.argoproj.io/hook": "PreDelete,Skip"}), set()],
		[obj("Job", {"argocd.argoproj.io/hook": "Skip", "helm.sh/hook": "pre-delete"}), set()],
		[obj("Job", {"argocd.argoproj.io/hook": "PreDelete,Bogus"}), set()],
		[obj("Job", {"argocd.argoproj.io/hook": "Bogus", "helm.sh/hook": "post-delete"}), set()],
		[obj("Job", {"helm.sh/hook": "pre-install,pre-delete"}), set()],
		# anything else is left out of every sync without a sync phase (partitionTargetObjsForSync) ...
		[obj("Rollout", {"helm.sh/hook": "pre-delete"}), {"WH-ARGO-009"}],
		[obj("Service", {"argocd.argoproj.io/hook": "PreDelete,PostDelete"}), {"WH-ARGO-009"}],
		[obj("ConfigMap", {"argocd.argoproj.io/hook": "Bogus", "helm.sh/hook": "post-delete"}), {"WH-ARGO-009"}],
		# ... and with one it is synced as that hook (hasGitOpsEngineSyncPhaseHook), deleted and recreated
		[obj("Rollout", {"argocd.argoproj.io/hook": "PostSync,PreDelete"}), {"WH-ARGO-009"}],
		[obj("Service", {"helm.sh/hook": "pre-upgrade,post-delete"}), {"WH-ARGO-009"}],
		# a deletion entry is compared exactly, after trimming
		[obj("Job", {"argocd.argoproj.io/hook": "predelete"}), {"WH-ARGO-009"}],
		[obj("Job", {"argocd.argoproj.io/hook": " PostDelete "}), set()],
	] {
		{r.rule | some r in argocd.deny} == case[1] with input as case[0]
	}
	some m in argocd.deny with input as obj("Rollout", {"argocd.argoproj.io/hook": "PostSync,PreDelete"})
	contains(m.msg, "as a PostSync hook on every sync")
}
