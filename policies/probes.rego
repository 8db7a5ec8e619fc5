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
# title: Probes target a port the container declares
# description: A probe on a port nothing listens on fails forever; the pod never becomes ready or is restarted in a loop.
# custom:
#   id: WH-PROBE-002
#   severity: error
deny contains {"rule": "WH-PROBE-002", "msg": msg} if {
	some x in k8s.containers
	some probe in ["readinessProbe", "livenessProbe", "startupProbe"]
	some handler in ["httpGet", "tcpSocket", "grpc"]
	port := x.container[probe][handler].port
	not declared(x.container, port)
	msg := sprintf("%s %s.%s.port %v is not a port of the container: use one of its ports (by name or containerPort)", [x.what, probe, handler, port])
}

declared(c, port) if {
	is_string(port)
	not regex.match(`^[0-9]+$`, port)
	some p in c.ports
	p.name == port
}

declared(c, port) if {
	some p in c.ports
	p.containerPort == to_number(port)
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
# title: The grace period outlasts the preStop drain
# description: The kubelet kills the container when terminationGracePeriodSeconds ends, drain included; a drain as long as the grace period leaves no time to finish requests.
# custom:
#   id: WH-PROBE-004
#   severity: error
deny contains {"rule": "WH-PROBE-004", "msg": msg} if {
	some x in serving
	drain := drain_seconds(x.container)
	grace := object.get(x.spec, "terminationGracePeriodSeconds", 30)
	grace <= drain
	msg := sprintf("terminationGracePeriodSeconds %v is not longer than the %vs preStop drain of %s: set it to the drain plus the longest request (e.g. %v)", [grace, drain, x.what, drain + 45])
}

# Seconds the preStop hook waits: the native sleep action or the `sleep N` commands of an exec hook.
drain_seconds(c) := c.lifecycle.preStop.sleep.seconds

drain_seconds(c) := sum([to_number(m[1]) |
	some m in regex.find_all_string_submatch_n(`\bsleep\s+([0-9]+)`, concat(" ", c.lifecycle.preStop.exec.command), -1)
]) if {
	not c.lifecycle.preStop.sleep
	c.lifecycle.preStop.exec.command
}
