# Argo Rollouts semantics generic linters do not know: a canary that starts small, only grows, never
# waits for a human, is watched by analysis and aborts when stuck.
#
# Decisions:
# - Argo Rollouts' own validation (the rollouts stage, WH-RVAL-*) judges what its controller rejects:
#   setWeight outside 0..maxTrafficWeight, a pause duration that does not parse or is negative, two of
#   setWeight/pause/experiment/analysis in one step, an empty step, one Service as canary and stable,
#   a workloadRef next to a labelled template (or neither), an analysis without templates. These rules
#   judge only what upstream accepts.
# - The steps need not end with setWeight: 100. After the last step Argo Rollouts promotes the canary
#   to 100 % by itself, so a trailing setWeight: 100 is allowed but not required.
# - The worst-case duration (pauses, experiments, auto-promotion and blocking analysis) is judged by
#   the references stage (WH-REF-022), which sees the AnalysisTemplates and reads every duration the
#   way Argo Rollouts does (gitops_check/durations.py).
package webhook.rollout

import data.lib.k8s

canary := input.spec.strategy.canary if input.kind == "Rollout"

blue_green := input.spec.strategy.blueGreen if input.kind == "Rollout"

steps := object.get(canary, "steps", [])

weights := [w | some s in steps; w := s.setWeight]

step_actions := {"setWeight", "pause", "experiment", "analysis", "setCanaryScale", "setHeaderRoute", "setMirrorRoute", "plugin"}

# METADATA
# title: The first canary step exposes at most firstCanaryWeightMaxPercent of traffic
# description: The first step is where a bad release meets users before any analysis has data; the SLO file caps how many users that may be.
# custom:
#   id: WH-ROLL-001
#   severity: error
deny contains {"rule": "WH-ROLL-001", "msg": msg} if {
	count(weights) > 0
	weights[0] > data.slo.firstCanaryWeightMaxPercent
	msg := sprintf("the first setWeight is %v%%, above firstCanaryWeightMaxPercent %v%% (base/slo.yaml): start with a smaller step", [weights[0], data.slo.firstCanaryWeightMaxPercent])
}

deny contains {"rule": "WH-ROLL-001", "msg": msg} if {
	canary
	count(weights) == 0
	msg := sprintf("the canary has no setWeight step, so it goes from 0 to 100%% of traffic at once: add steps starting at most at %v%%", [data.slo.firstCanaryWeightMaxPercent])
}

# METADATA
# title: Canary weights never decrease from one setWeight step to the next
# description: A weight that goes down shifts users back and forth between versions and usually hides a typo. (The range, 0 to maxTrafficWeight, is Argo Rollouts' own check.)
# custom:
#   id: WH-ROLL-002
#   severity: error
deny contains {"rule": "WH-ROLL-002", "msg": msg} if {
	some i, w in weights
	i > 0
	w < weights[i - 1]
	msg := sprintf("setWeight goes down from %v to %v: make the weights non-decreasing", [weights[i - 1], w])
}

# METADATA
# title: Every pause has a duration
# description: A pause without duration waits for a human to promote; a GitOps rollout then never finishes on its own and blocks the next sync. (Whether a duration parses is Argo Rollouts' own check.)
# custom:
#   id: WH-ROLL-003
#   severity: error
deny contains {"rule": "WH-ROLL-003", "msg": msg} if {
	some i, s in steps
	"pause" in object.keys(s)
	object.get(object.get(s, "pause", {}), "duration", null) == null
	msg := sprintf("steps[%d] pauses indefinitely: give the pause a duration (e.g. pause: {duration: 2m}) and let analysis decide", [i])
}

# METADATA
# title: The canary runs analysis (background or inline)
# description: Without analysis nothing aborts a bad canary; it is promoted to 100 % when the pauses end. (Whether the analysis guards every weight in time, from the first setWeight to 100 %, is WH-REF-044 on the rollout's timeline; an analysis without templates is Argo Rollouts' own check.)
# custom:
#   id: WH-ROLL-004
#   severity: error
deny contains {"rule": "WH-ROLL-004", "msg": msg} if {
	canary
	not canary.analysis
	not inline_analysis
	msg := "the canary runs no analysis: add strategy.canary.analysis (background) or analysis steps with the SLO AnalysisTemplates"
}

inline_analysis if {
	some s in steps
	s.analysis
}

# METADATA
# title: A stuck rollout aborts after progressDeadlineSeconds
# description: Without progressDeadlineAbort a canary whose pods never become ready stays half-deployed forever instead of returning traffic to stable.
# custom:
#   id: WH-ROLL-006
#   severity: error
deny contains {"rule": "WH-ROLL-006", "msg": msg} if {
	input.kind == "Rollout"
	not input.spec.progressDeadlineAbort == true
	msg := "progressDeadlineAbort is not true: set progressDeadlineAbort: true so a stuck rollout goes back to stable"
}

deny contains {"rule": "WH-ROLL-006", "msg": msg} if {
	input.kind == "Rollout"
	input.spec.progressDeadlineAbort == true
	not input.spec.progressDeadlineSeconds
	msg := "progressDeadlineAbort is set without progressDeadlineSeconds: set progressDeadlineSeconds (e.g. 120) so the deadline is deliberate"
}

# METADATA
# title: No canary step combines setCanaryScale, setHeaderRoute, setMirrorRoute or plugin with another action
# description: Argo Rollouts accepts such a step but completes it on the first action it matches, so the other is silently skipped (e.g. a setWeight next to a setCanaryScale). (Two of setWeight, pause, experiment and analysis in one step, or an empty step, are Argo Rollouts' own check.)
# custom:
#   id: WH-ROLL-007
#   severity: error
deny contains {"rule": "WH-ROLL-007", "msg": msg} if {
	some i, s in steps
	actions := [k | some k, _ in s; k in step_actions]
	count(actions) > 1
	count([k | some k in actions; k in upstream_exclusive]) <= 1
	msg := sprintf("steps[%d] has %d actions (%s) and Argo Rollouts completes a step on the first one it matches: split it into one step per action", [i, count(actions), concat(", ", sort(actions))])
}

# The actions Argo Rollouts itself allows only one of per step (validation.go hasMultipleStepsType).
upstream_exclusive := {"setWeight", "pause", "experiment", "analysis"}

# METADATA
# title: Canary Services come with traffic routing
# description: Without trafficRouting setWeight is only approximated by pod counts (1 canary pod of 4 is 25 %), breaking the first-step cap.
# custom:
#   id: WH-ROLL-009
#   severity: error
deny contains {"rule": "WH-ROLL-009", "msg": msg} if {
	some field in ["canaryService", "stableService"]
	canary[field]
	not canary.trafficRouting
	msg := sprintf("%s is set without trafficRouting, so weights follow pod counts: add trafficRouting (istio virtualService)", [field])
}

# METADATA
# title: blueGreen auto-promotion is gated by pre-promotion analysis
# description: With autoPromotionEnabled (the default) and no prePromotionAnalysis the new version takes all traffic without any check.
# custom:
#   id: WH-ROLL-010
#   severity: error
deny contains {"rule": "WH-ROLL-010", "msg": msg} if {
	object.get(blue_green, "autoPromotionEnabled", true) != false
	not blue_green.prePromotionAnalysis
	msg := "blueGreen promotes automatically without prePromotionAnalysis: add prePromotionAnalysis with the SLO AnalysisTemplates"
}

# METADATA
# title: A Rollout with a workloadRef sets no pod spec of its own
# description: With spec.workloadRef the controller replaces spec.template with the workload's, silently when the template has no labels or annotations, so a pod spec written here never runs. (A labelled template next to a workloadRef, or neither, is Argo Rollouts' own check.)
# custom:
#   id: WH-ROLL-011
#   severity: error
deny contains {"rule": "WH-ROLL-011", "msg": msg} if {
	input.kind == "Rollout"
	input.spec.workloadRef
	count(object.get(input.spec, ["template", "spec"], {})) > 0
	count(object.get(input.spec, ["template", "metadata", "labels"], {})) == 0
	count(object.get(input.spec, ["template", "metadata", "annotations"], {})) == 0
	msg := "the Rollout sets spec.template.spec next to spec.workloadRef, and the controller replaces it with the referenced workload's template: move the pod spec into the workload and remove spec.template"
}

# Every analysis a Rollout runs, with where it sits for messages: background, inline steps, blueGreen
# pre- and post-promotion.
rollout_analyses contains ["spec.strategy.canary.analysis", canary.analysis] if canary.analysis

rollout_analyses contains [sprintf("spec.strategy.canary.steps[%d].analysis", [i]), s.analysis] if {
	some i, s in steps
	s.analysis
}

rollout_analyses contains [sprintf("spec.strategy.canary.steps[%d].experiment", [i]), s.experiment] if {
	some i, s in steps
	s.experiment
}

rollout_analyses contains [sprintf("spec.strategy.blueGreen.%s", [field]), blue_green[field]] if {
	some field in ["prePromotionAnalysis", "postPromotionAnalysis"]
	blue_green[field]
}

rollout_analyses contains ["spec", input.spec] if input.kind in {"AnalysisTemplate", "ClusterAnalysisTemplate"}

# METADATA
# title: No analysis runs a metric in dry-run mode
# description: A metric matched by dryRun (metricName is a regular expression, ".*" matches every metric) is measured but its failures never fail the AnalysisRun, so a bad canary is promoted. This holds for the Rollout's background, inline, experiment and blueGreen analyses and for an AnalysisTemplate's own spec.dryRun.
# custom:
#   id: WH-ROLL-012
#   severity: error
deny contains {"rule": "WH-ROLL-012", "msg": msg} if {
	some [where, analysis] in rollout_analyses
	some i, d in object.get(analysis, "dryRun", [])
	msg := sprintf("%s.dryRun[%d] puts metricName %q in dry-run, so its failures never abort the rollout: remove the dryRun entry (try a new metric in staging)", [where, i, object.get(d, "metricName", "")])
}

# METADATA
# title: A Rollout is not paused
# description: With spec.paused true the controller does not progress the Rollout at all; a new revision is never rolled out and a stuck canary is never aborted, until someone unpauses it by hand.
# custom:
#   id: WH-ROLL-013
#   severity: error
deny contains {"rule": "WH-ROLL-013", "msg": msg} if {
	input.kind == "Rollout"
	input.spec.paused == true
	msg := "spec.paused is true, so the Rollout never progresses: remove spec.paused (pause steps with a duration pause a canary)"
}

# The Rollouts whose previous ReplicaSet Argo Rollouts keeps for a while after traffic has moved to the new one
# (rollout/replicaset.go scaleDownDelayHelper, called by canary.go for a canary with trafficRouting and by
# bluegreen.go), with what moves the traffic. A canary without trafficRouting scales by pod counts and ignores these
# fields (Argo Rollouts refuses its scaleDownDelaySeconds, WH-RVAL).
scale_down_strategies contains {"path": "spec.strategy.canary", "spec": canary, "routers": "mesh proxies and the ingress"} if {
	canary.trafficRouting
}

scale_down_strategies contains {"path": "spec.strategy.blueGreen", "spec": blue_green, "routers": "kube-proxy on every node and the mesh proxies"} if {
	is_object(blue_green)
}

# The Rollouts whose aborted ReplicaSet served users and is scaled down abortScaleDownDelaySeconds after the stable
# one is back at full size (replicaset.go reconcileNewReplicaSet, shouldDelayScaleDownOnAbort): a canary with
# trafficRouting, and a blue-green Rollout with postPromotionAnalysis, whose failure switches the active Service
# back to the stable ReplicaSet (service.go reconcileActiveService). Without postPromotionAnalysis a blue-green
# abort happens before the active Service moves, so the aborted pods only had the preview's traffic.
abort_strategies contains {"path": "spec.strategy.canary", "spec": canary, "routers": "mesh proxies and the ingress"} if {
	canary.trafficRouting
}

abort_strategies contains {"path": "spec.strategy.blueGreen", "spec": blue_green, "routers": "kube-proxy on every node and the mesh proxies"} if {
	blue_green.postPromotionAnalysis
}

# The fewest seconds the environment lets pods live on after traffic moved off them; 0 (staging) judges nothing.
scale_down_floor := k8s.env_params.minScaleDownDelaySeconds

after(seconds) := sprintf("%v s after", [seconds]) if seconds > 0

after(seconds) := "right after" if seconds <= 0

# METADATA
# title: A Rollout keeps the pods it moves traffic off while routing converges
# description: When a release completes, Argo Rollouts points the stable Service (a canary with traffic routing) or the active Service (blue-green) at the new ReplicaSet and scales the previous one down scaleDownDelaySeconds later (default 30 s, DefaultScaleDownDelaySeconds in utils/defaults/defaults.go of Argo Rollouts v1.9.1; the canary field "is needed after switching the stable service selector ... to give time for traffic providers to re-target the new pods", the blue-green one "A minimum of 30 seconds is recommended to ensure IP table propagation across the nodes", pkg/apis/rollouts/v1alpha1/types.go). Mesh proxies, the ingress and kube-proxy still send requests to the old pods until the change reaches them; scaled down sooner, those requests fail, so every release is a short outage. The same happens with scaleDownDelayRevisionLimit below 1, which keeps no previous ReplicaSet for the delay and scales it down at once (rollout/replicaset.go scaleDownDelayHelper), and after an abort with abortScaleDownDelaySeconds between 1 and the floor, which scales the aborted canary (or a blue-green Rollout's new ReplicaSet, once postPromotionAnalysis fails after the active Service moved to it) down that soon after the stable one is back at full size (abortScaleDownDelaySeconds 0 keeps them until the next update, which is fine). A scaleDownDelaySeconds of 0 is below the floor too; Argo Rollouts v1.9.1 reads it as no deadline and keeps every previous ReplicaSet running (argoproj/argo-rollouts issue 1992 asks for 0 to mean at once). Judged where the environment sets params.environments.<env>.minScaleDownDelaySeconds (production 2 s, the 30 s default divided by the end-to-end time scale; staging 0, not judged). A canary without trafficRouting scales by pod counts and ignores these fields (its scaleDownDelaySeconds Argo Rollouts refuses itself, WH-RVAL).
# custom:
#   id: WH-ROLL-014
#   severity: error
deny contains {"rule": "WH-ROLL-014", "msg": msg} if {
	some s in scale_down_strategies
	delay := s.spec.scaleDownDelaySeconds
	is_number(delay)
	delay != 0
	delay < scale_down_floor
	msg := sprintf("%s.scaleDownDelaySeconds is %v (below %v s in %s), so Argo Rollouts scales the previous ReplicaSet down %s switching traffic to the new one, before %s stop routing to it, and their requests fail: remove it (the default is 30) or set it to at least 30", [s.path, delay, scale_down_floor, k8s.environment, after(delay), s.routers])
}

deny contains {"rule": "WH-ROLL-014", "msg": msg} if {
	some s in scale_down_strategies
	s.spec.scaleDownDelaySeconds == 0
	0 < scale_down_floor
	msg := sprintf("%s.scaleDownDelaySeconds is 0 (below %v s in %s): Argo Rollouts v1.9.1 reads it as no scale-down deadline and keeps every previous ReplicaSet running after each release, and were 0 to mean at once (argoproj/argo-rollouts issue 1992) the requests %s still route to them would fail: remove it (the default is 30) or set it to at least 30", [s.path, scale_down_floor, k8s.environment, s.routers])
}

deny contains {"rule": "WH-ROLL-014", "msg": msg} if {
	some s in scale_down_strategies
	limit := s.spec.scaleDownDelayRevisionLimit
	is_number(limit)
	limit < 1
	0 < scale_down_floor
	msg := sprintf("%s.scaleDownDelayRevisionLimit is %v (in %s), so Argo Rollouts keeps no previous ReplicaSet for scaleDownDelaySeconds and scales it down right after switching traffic to the new one, before %s stop routing to it, and their requests fail: remove it (no limit) or set it to at least 1", [s.path, limit, k8s.environment, s.routers])
}

deny contains {"rule": "WH-ROLL-014", "msg": msg} if {
	some s in abort_strategies
	delay := s.spec.abortScaleDownDelaySeconds
	is_number(delay)
	delay != 0
	delay < scale_down_floor
	msg := sprintf("%s.abortScaleDownDelaySeconds is %v (below %v s in %s), so after an abort Argo Rollouts scales the aborted ReplicaSet down %s the stable one is back at full size, while %s may still route requests to it, and they fail: remove it (the default is 30), set it to at least 30, or set 0 to keep the aborted pods until the next update", [s.path, delay, scale_down_floor, k8s.environment, after(delay), s.routers])
}
