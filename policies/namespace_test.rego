package webhook.namespace_test

import data.webhook.namespace

ns(labels) := {"kind": "Namespace", "metadata": {"name": "webhook-service", "labels": labels}}

test_restricted_namespace_passes if {
	count(namespace.deny) == 0 with input as ns({"pod-security.kubernetes.io/enforce": "restricted", "environment": "staging"})
}

test_missing_labels_fire if {
	{r.rule | some r in namespace.deny} == {"WH-NS-001", "WH-NS-002"} with input as {"kind": "Namespace", "metadata": {"name": "x"}}
	{r.rule | some r in namespace.deny} == {"WH-NS-002"} with input as ns({"pod-security.kubernetes.io/enforce": "restricted", "environment": "dev"})
}
