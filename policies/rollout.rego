# Argo Rollouts semantics generic linters do not know: a canary that starts small, only grows, never
# waits for a human, is watched by analysis, fits the deployment budget and aborts when stuck.
#
# Decisions:
# - The steps need not end with setWeight: 100. After the last step Argo Rollouts promotes the canary
#   to 100 % by itself, so a trailing setWeight: 100 is allowed but not required.
# - Worst-case duration here is what one object shows: timed pauses, experiment durations and
#   blueGreen autoPromotionSeconds. Inline analysis lasts as long as its AnalysisTemplates' metrics
#   (initialDelay + count x interval), which only the references stage can see (WH-REF-022).
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
# title: Canary weights stay within 0-100 and never decrease
# description: A weight that goes down shifts users back and forth between versions and usually hides a typo; weights outside 0-100 are rejected at sync.
# custom:
#   id: WH-ROLL-002
#   severity: error
deny contains {"rule": "WH-ROLL-002", "msg": msg} if {
	some w in weights
	not valid_weight(w)
	msg := sprintf("setWeight %v is outside 0..100: use a percentage", [w])
}

deny contains {"rule": "WH-ROLL-002", "msg": msg} if {
	some i, w in weights
	i > 0
	w < weights[i - 1]
	msg := sprintf("setWeight goes down from %v to %v: make the weights non-decreasing", [weights[i - 1], w])
}

valid_weight(w) if {
	is_number(w)
	w >= 0
	w <= 100
}

# METADATA
# title: Every pause has a duration
# description: A pause without duration waits for a human to promote; a GitOps rollout then never finishes on its own and blocks the next sync.
# custom:
#   id: WH-ROLL-003
#   severity: error
deny contains {"rule": "WH-ROLL-003", "msg": msg} if {
	some i, s in steps
	"pause" in object.keys(s)
	object.get(object.get(s, "pause", {}), "duration", null) == null
	msg := sprintf("steps[%d] pauses indefinitely: give the pause a duration (e.g. pause: {duration: 2m}) and let analysis decide", [i])
}

deny contains {"rule": "WH-ROLL-003", "msg": msg} if {
	some i, s in steps
	d := object.get(object.get(s, "pause", {}), "duration", null)
	d != null
	not valid_duration(d)
	msg := sprintf("steps[%d] pause duration %v is not a duration Argo Rollouts reads: use whole seconds (120) or a number with s, m or h (30s, 5m, 1h)", [i, d])
}

# A duration Argo Rollouts accepts: whole seconds (a number or digit string) or an unsigned Go
# duration string such as 30s, 5m, 1h30m.
valid_duration(d) if {
	is_number(d)
	d >= 0
	d == round(d)
}

valid_duration(d) if {
	is_string(d)
	k8s.seconds(d)
}

# METADATA
# title: The canary is gated by analysis
# description: Without analysis nothing aborts a bad canary; it is promoted to 100 % when the pauses end.
# custom:
#   id: WH-ROLL-004
#   severity: error
deny contains {"rule": "WH-ROLL-004", "msg": msg} if {
	canary
	not background_analysis
	not inline_analysis
	msg := "the canary runs no analysis: add strategy.canary.analysis (background) or analysis steps with the SLO AnalysisTemplates"
}

deny contains {"rule": "WH-ROLL-004", "msg": msg} if {
	canary.analysis
	not has_templates(canary.analysis)
	msg := "strategy.canary.analysis lists no templates, so it checks nothing: add the SLO AnalysisTemplates to analysis.templates"
}

deny contains {"rule": "WH-ROLL-004", "msg": msg} if {
	some i, s in steps
	s.analysis
	not has_templates(s.analysis)
	msg := sprintf("steps[%d] is an analysis step without templates, so it checks nothing: add the SLO AnalysisTemplates to its templates", [i])
}

deny contains {"rule": "WH-ROLL-004", "msg": msg} if {
	background_analysis
	start := object.get(canary.analysis, "startingStep", 0)
	first := min([i | some i, s in steps; s.setWeight])
	start > first
	not analysed_before(first)
	msg := sprintf("background analysis starts at step %v but traffic first shifts at step %v, so the first weights run unanalysed: set analysis.startingStep to at most %v (or add an analysis step before it)", [start, first, first])
}

has_templates(a) if count(object.get(a, "templates", [])) > 0

background_analysis if has_templates(canary.analysis)

inline_analysis if {
	some s in steps
	has_templates(s.analysis)
}

analysed_before(n) if {
	some i, s in steps
	i < n
	has_templates(s.analysis)
}

# METADATA
# title: The rollout's own waits fit the deployment budget
# description: Timed pauses, experiments and autoPromotionSeconds alone must fit deploymentBudgetSeconds; a rollout longer than the budget holds the release train and delays fixes.
# custom:
#   id: WH-ROLL-005
#   severity: error
deny contains {"rule": "WH-ROLL-005", "msg": msg} if {
	input.kind == "Rollout"
	total := sum(waits)
	total > data.slo.deploymentBudgetSeconds
	msg := sprintf("pauses, experiments and auto-promotion wait %vs%s, over deploymentBudgetSeconds %v (base/slo.yaml): shorten the pauses", [total, unparsed_note, data.slo.deploymentBudgetSeconds])
}

# Durations that do not parse are not counted as 0 in silence: the total is then a lower bound
# (WH-ROLL-003 reports unparseable pause durations).
wait_durations := array.concat(
	[s.pause.duration | some s in steps],
	array.concat(
		[s.experiment.duration | some s in steps],
		[blue_green.autoPromotionSeconds | object.get(blue_green, "autoPromotionEnabled", true) != false],
	),
)

unparsed := [d | some d in wait_durations; not k8s.seconds(d)]

default unparsed_note := ""

unparsed_note := sprintf(" or more (%d durations do not parse and are not counted)", [count(unparsed)]) if count(unparsed) > 0

waits := array.concat(
	[k8s.seconds(s.pause.duration) | some s in steps],
	array.concat(
		[k8s.seconds(s.experiment.duration) | some s in steps],
		[k8s.seconds(blue_green.autoPromotionSeconds) | object.get(blue_green, "autoPromotionEnabled", true) != false],
	),
)

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
# title: Each canary step has exactly one action
# description: Argo Rollouts runs only one action per step; a step with two (or none) silently drops one, e.g. a pause meant to follow a setWeight.
# custom:
#   id: WH-ROLL-007
#   severity: error
deny contains {"rule": "WH-ROLL-007", "msg": msg} if {
	some i, s in steps
	actions := [k | some k, _ in s; k in step_actions]
	count(actions) != 1
	msg := sprintf("steps[%d] has %d actions (%s): split it into one step per action", [i, count(actions), concat(", ", actions)])
}

# METADATA
# title: canaryService and stableService differ
# description: Argo Rollouts points each Service at a different ReplicaSet; one Service for both cannot split traffic.
# custom:
#   id: WH-ROLL-008
#   severity: error
deny contains {"rule": "WH-ROLL-008", "msg": msg} if {
	canary.canaryService == canary.stableService
	msg := sprintf("canaryService and stableService are both %q: use two Services (e.g. webhook-service and webhook-service-canary)", [canary.stableService])
}

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
# title: A Rollout has either a template or a workloadRef
# description: The two are mutually exclusive; with both the controller rejects the Rollout, with neither it has no pods to run.
# custom:
#   id: WH-ROLL-011
#   severity: error
deny contains {"rule": "WH-ROLL-011", "msg": msg} if {
	input.kind == "Rollout"
	input.spec.workloadRef
	input.spec.template.spec
	msg := "the Rollout sets both spec.template and spec.workloadRef: keep only one"
}

deny contains {"rule": "WH-ROLL-011", "msg": msg} if {
	input.kind == "Rollout"
	not input.spec.workloadRef
	not input.spec.template
	msg := "the Rollout has neither spec.template nor spec.workloadRef: add the pod template"
}
