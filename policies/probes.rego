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
# title: A preStop drain is set
# description: Endpoints, kube-proxy and the mesh learn about a terminating pod asynchronously; without a preStop pause requests keep arriving at a process that already exits.
# custom:
#   id: WH-PROBE-003
#   severity: error
deny contains {"rule": "WH-PROBE-003", "msg": msg} if {
	some x in serving
	not x.container.lifecycle.preStop
	msg := sprintf("%s has no lifecycle.preStop: add a drain, e.g. preStop.sleep.seconds: 15", [x.what])
}

# METADATA
# title: The grace period outlasts the preStop drain (a sleep action equal to it, or exec `sleep` commands as long)
# description: The kubelet kills the container when terminationGracePeriodSeconds ends, drain included; a drain as long as the grace period leaves no time to finish requests. (A sleep action longer than the grace period is rejected by the API server and Argo Rollouts.)
# custom:
#   id: WH-PROBE-004
#   severity: error
deny contains {"rule": "WH-PROBE-004", "msg": msg} if {
	some x in serving
	drain := x.container.lifecycle.preStop.sleep.seconds
	grace := object.get(x.spec, "terminationGracePeriodSeconds", 30)
	grace == drain
	msg := sprintf("terminationGracePeriodSeconds %v is not longer than the %vs preStop sleep of %s: set it to the drain plus the longest request (e.g. %v)", [grace, drain, x.what, drain + 45])
}

deny contains {"rule": "WH-PROBE-004", "msg": msg} if {
	some x in serving
	not x.container.lifecycle.preStop.sleep
	drain := exec_sleep_seconds(x.container.lifecycle.preStop.exec.command)
	drain > 0
	grace := object.get(x.spec, "terminationGracePeriodSeconds", 30)
	grace <= drain
	msg := sprintf("terminationGracePeriodSeconds %v is not longer than the %vs the preStop exec sleeps in %s: set it to the drain plus the longest request (e.g. %v)", [grace, drain, x.what, ceil(drain) + 45])
}

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
