# Clean objects the Rego unit tests start from; each test changes one field (object.union,
# json.patch, json.remove) and checks which rule ids fire.
package lib.fixtures_test

labels := {
	"app.kubernetes.io/name": "webhook-service",
	"app.kubernetes.io/part-of": "webhook-delivery",
	"environment": "production",
}

meta(name) := {"name": name, "namespace": "webhook-service", "labels": labels}

container := {
	"name": "webhook-service",
	"image": "ghcr.io/company/webhook-service@sha256:4f9c1a7e2b3d5c6a8e0f1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f67",
	"ports": [{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9090}],
	"resources": {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
	"livenessProbe": {"httpGet": {"path": "/health", "port": "http"}},
	"readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
	"lifecycle": {"preStop": {"sleep": {"seconds": 15}}},
	"securityContext": {
		"allowPrivilegeEscalation": false,
		"readOnlyRootFilesystem": true,
		"capabilities": {"drop": ["ALL"]},
	},
}

pod_spec := {
	"serviceAccountName": "webhook-service",
	"automountServiceAccountToken": false,
	"terminationGracePeriodSeconds": 60,
	"securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
	"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway"}],
	"containers": [container],
	"volumes": [{"name": "tmp", "emptyDir": {}}],
}

rollout := {
	"apiVersion": "argoproj.io/v1alpha1",
	"kind": "Rollout",
	"metadata": meta("webhook-service"),
	"spec": {
		"progressDeadlineSeconds": 120,
		"progressDeadlineAbort": true,
		"selector": {"matchLabels": {"app.kubernetes.io/name": "webhook-service"}},
		"strategy": {"canary": {
			"canaryService": "webhook-service-canary",
			"stableService": "webhook-service",
			"trafficRouting": {"istio": {"virtualService": {"name": "webhook-service", "routes": ["primary"]}}},
			"analysis": {"templates": [{"templateName": "webhook-service-success-rate"}]},
			"steps": [
				{"setWeight": 10}, {"pause": {"duration": "2m"}},
				{"setWeight": 50}, {"pause": {"duration": 120}},
				{"setWeight": 100},
			],
		}},
		"template": {"metadata": {"labels": labels}, "spec": pod_spec},
	},
}

template := {
	"apiVersion": "argoproj.io/v1alpha1",
	"kind": "AnalysisTemplate",
	"metadata": meta("webhook-service-success-rate"),
	"spec": {
		"args": [{"name": "canary-service"}, {"name": "success-rate-min", "value": "0.995"}],
		"metrics": [{
			"name": "success-rate",
			"interval": "1m",
			"failureLimit": 1,
			"successCondition": "len(result) == 0 || result[0] >= {{args.success-rate-min}}",
			"failureCondition": "len(result) > 0 && result[0] < {{args.success-rate-min}}",
			"provider": {"prometheus": {
				"address": "http://prometheus-operated.monitoring.svc.cluster.local:9090",
				"query": "sum(rate(ok{service=\"{{args.canary-service}}\"}[2m])) / sum(rate(all{service=\"{{args.canary-service}}\"}[2m]))",
			}},
		}],
	},
}

slo := {"successRateMin": 0.995, "latencyP95MaxSeconds": 0.5, "deploymentBudgetSeconds": 900, "firstCanaryWeightMaxPercent": 10}

params := {
	"environments": {"production": {"minReplicas": 3}, "staging": {"minReplicas": 2}},
	"allowedRegistries": ["ghcr.io/company/"],
	"requireDigest": {"production": true, "staging": false},
	"allowedCapabilities": ["NET_BIND_SERVICE"],
}

# The rule ids of a deny or warn set.
ids(results) := {r.rule | some r in results}
