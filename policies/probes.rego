# Probes and graceful shutdown of long-running workloads (Jobs and bare Pods have no traffic to drain).
# A pod must only get traffic when ready, be restarted when stuck, and keep serving while endpoints
# forget it (preStop drain) for less than the grace period, or in-flight webhooks are cut.
package webhook.probes

import data.lib.k8s

serving contains x if {
	k8s.long_running
	some x in k8s.app_containers
}

# METADATA
# title: Readiness and liveness probes are set
# description: Without readiness a canary gets traffic before it can serve; without liveness a hung process keeps its share of traffic forever.
# custom:
#   id: WH-PROBE-001
#   severity: error
deny contains {"rule": "WH-PROBE-001", "msg": msg} if {
	some x in serving
	some probe in ["readinessProbe", "livenessProbe"]
	not x.container[probe]
	msg := sprintf("%s has no %s: add one (httpGet on the http port, e.g. /ready for readiness and /health for liveness)", [x.what, probe])
}

# METADATA
# title: A preStop drain is set, at least params.shutdown.minDrainSeconds long
# description: Endpoints, kube-proxy and the mesh learn about a terminating pod asynchronously; without a preStop pause, or with a shorter one, requests keep arriving at a process that already exits.
# custom:
#   id: WH-PROBE-003
#   severity: error
deny contains {"rule": "WH-PROBE-003", "msg": msg} if {
	some x in serving
	not x.container.lifecycle.preStop
	msg := sprintf("%s has no lifecycle.preStop: add a drain, e.g. preStop.sleep.seconds: 15", [x.what])
}

deny contains {"rule": "WH-PROBE-003", "msg": msg} if {
	some x in serving
	drain := drain_seconds(x.container)
	drain > 0
	drain < min_drain
	msg := sprintf("%s drains %vs in preStop, less than params.shutdown.minDrainSeconds (%vs) that endpoints, kube-proxy and the sidecars take to forget a terminating pod: sleep at least %vs", [x.what, drain, min_drain, min_drain])
}

# The shutdown parameters (policies/data/params.yaml): the shortest drain and the longest request.
min_drain := object.get(data.params, ["shutdown", "minDrainSeconds"], 0)

longest_request := object.get(data.params, ["shutdown", "longestRequestSeconds"], 0)

# Seconds a container's preStop hook keeps serving: a sleep action, or the sleep commands of an exec hook.
drain_seconds(container) := container.lifecycle.preStop.sleep.seconds if is_number(container.lifecycle.preStop.sleep.seconds)

drain_seconds(container) := exec_sleep_seconds(container.lifecycle.preStop.exec.command) if {
	not container.lifecycle.preStop.sleep
	is_array(container.lifecycle.preStop.exec.command)
}

# METADATA
# title: The grace period covers the preStop drain plus the longest request (params.shutdown.longestRequestSeconds)
# description: The kubelet kills the container when terminationGracePeriodSeconds ends, drain included; after the drain, requests still in flight need up to the longest request to finish, or they are cut. (A sleep action longer than the grace period is rejected by the API server and Argo Rollouts.)
# custom:
#   id: WH-PROBE-004
#   severity: error
deny contains {"rule": "WH-PROBE-004", "msg": msg} if {
	some x in serving
	drain := drain_seconds(x.container)
	drain > 0
	grace := object.get(x.spec, "terminationGracePeriodSeconds", 30)
	not refused_sleep(x.container, grace, drain)
	too_short(grace, drain)
	msg := sprintf("terminationGracePeriodSeconds %v does not cover the %vs preStop drain of %s plus the longest request (%vs, params.shutdown.longestRequestSeconds): requests in flight when the drain ends are cut; set it to at least %v", [grace, drain, x.what, longest_request, ceil(drain + max([longest_request, 1]))])
}

# A sleep action longer than the grace period: the API server's and Argo Rollouts' finding (validateSleepAction).
refused_sleep(container, grace, drain) if {
	container.lifecycle.preStop.sleep
	drain > grace
}

too_short(grace, drain) if grace < drain + longest_request

too_short(grace, drain) if grace <= drain

# Seconds the `sleep` commands of an exec hook wait, read as GNU coreutils and busybox sleep read their
# operands: each a decimal number with an optional unit s, m, h or d, the operands summed
# ("sleep 1m 30" is 90 s, "sleep 0.5" half a second).
exec_sleep_seconds(command) := sum([seconds |
	some m in regex.find_all_string_submatch_n(`\bsleep((?:\s+(?:[0-9]+\.?[0-9]*|\.[0-9]+)[smhd]?\b)+)`, concat(" ", command), -1)
	some operand in regex.find_all_string_submatch_n(`([0-9]+\.?[0-9]*|\.[0-9]+)([smhd]?)`, m[1], -1)
	seconds := to_number(number_text(operand[1])) * sleep_units[operand[2]]
])

# "5." and ".5" as to_number reads them.
number_text(n) := concat("", [n, "0"]) if endswith(n, ".")

number_text(n) := concat("", ["0", n]) if startswith(n, ".")

number_text(n) := n if {
	not endswith(n, ".")
	not startswith(n, ".")
}

sleep_units := {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
