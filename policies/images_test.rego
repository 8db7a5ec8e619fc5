package webhook.images_test

import data.lib.fixtures_test as f
import data.webhook.images

with_image(image, env) := json.patch(f.rollout, [
	{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": image},
	{"op": "replace", "path": "/metadata/labels/environment", "value": env},
])

ids(image, env) := result if {
	result := f.ids(images.deny) with input as with_image(image, env) with data.params as f.params
}

test_clean_rollout_passes if {
	count(images.deny) == 0 with input as f.rollout with data.params as f.params
}

test_tags if {
	ids("ghcr.io/company/webhook-service:1.8.0", "staging") == set()
	ids("ghcr.io/company/webhook-service", "staging") == {"WH-IMG-001"}
	ids("ghcr.io/company/webhook-service:latest", "staging") == {"WH-IMG-001"}

	# a registry port is not a tag
	ids("ghcr.io:443/company/webhook-service", "staging") == {"WH-IMG-001", "WH-IMG-004"}
}

test_template_expressions if {
	ids("ghcr.io/company/webhook-service:${TAG}", "staging") == {"WH-IMG-002"}
	ids("{{ .Values.image }}", "production") == {"WH-IMG-002"}
}

test_digest_required_in_production_only if {
	ids("ghcr.io/company/webhook-service:1.8.0", "production") == {"WH-IMG-003"}
	ids(sprintf("ghcr.io/company/webhook-service:1.8.0@sha256:%s", [concat("", array.slice(split(crypto.sha256("x"), ""), 0, 64))]), "production") == set()
}

test_registry_prefix_is_exact if {
	ids("ghcr.io/company-evil/webhook-service:1.8.0", "staging") == {"WH-IMG-004"}
}

test_malformed_digest_is_named if {
	image := "ghcr.io/company/webhook-service:1.8.0@sha256:abc123"
	ids(image, "staging") == {"WH-IMG-001"}
	msgs := {r.msg | some r in images.deny with input as with_image(image, "staging") with data.params as f.params}
	some m in msgs
	contains(m, "digest is malformed: sha256 needs 64 hex characters")
	not contains(concat(" ", msgs), "implicitly latest")
	uppercase := sprintf("ghcr.io/company/webhook-service@sha256:%s", [upper(crypto.sha256("x"))])
	ids(uppercase, "staging") == {"WH-IMG-001"}
}

test_production_reports_a_missing_digest_once if {
	# requireDigest: WH-IMG-003 alone reports an image without a digest, whatever its tag
	ids("ghcr.io/company/webhook-service", "production") == {"WH-IMG-003"}
	ids("ghcr.io/company/webhook-service:latest", "production") == {"WH-IMG-003"}
	ids("ghcr.io/company/webhook-service:1.8.0", "production") == {"WH-IMG-003"}
	ids("ghcr.io:443/company/webhook-service", "production") == {"WH-IMG-003", "WH-IMG-004"}
}

test_production_reports_a_malformed_digest_once if {
	# a digest that is there but malformed: WH-IMG-001 names it, WH-IMG-003 does not repeat it
	every image in [
		"ghcr.io/company/webhook-service@sha256:abc",
		"ghcr.io/company/webhook-service:latest@sha256:abc",
		sprintf("ghcr.io/company/webhook-service@sha256:%s", [upper(crypto.sha256("x"))]),
	] {
		ids(image, "production") == {"WH-IMG-001"}
	}
	msgs := {r.msg | some r in images.deny with input as with_image("ghcr.io/company/webhook-service@sha256:abc", "production") with data.params as f.params}
	count(msgs) == 1
	some m in msgs
	contains(m, "digest is malformed")
}

test_without_required_digests_tags_are_judged_as_before if {
	# staging (requireDigest false), and production when requireDigest does not name it
	ids("ghcr.io/company/webhook-service@sha256:abc", "staging") == {"WH-IMG-001"}
	ids("ghcr.io/company/webhook-service:latest", "staging") == {"WH-IMG-001"}
	ids("ghcr.io/company/webhook-service", "staging") == {"WH-IMG-001"}
	params := json.remove(f.params, ["requireDigest/production"])
	f.ids(images.deny) == {"WH-IMG-001"} with input as with_image("ghcr.io/company/webhook-service:latest", "production") with data.params as params
}
