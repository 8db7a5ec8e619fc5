# Container images: immutable, resolvable references from our own registry. A tag can be moved under
# a running release; only a digest guarantees production runs what CI tested and what was promoted.
package webhook.images

import data.lib.k8s

images contains {"what": x.what, "image": x.container.image} if some x in k8s.containers

has_digest(image) if regex.match(`@sha256:[a-f0-9]{64}$`, image)

# A digest part that is there but not a sha256 of 64 lowercase hex characters.
malformed_digest(image) if {
	contains(image, "@")
	not has_digest(image)
}

# The tag of a reference: after the last ":" of the last path segment, digest removed.
tag(image) := t if {
	name := split(image, "@")[0]
	parts := split(name, "/")
	last := parts[count(parts) - 1]
	contains(last, ":")
	t := split(last, ":")[1]
}

templated(image) if contains(image, "{{")

templated(image) if contains(image, "${")

# The environment pins every image by digest (params.requireDigest): there WH-IMG-003 reports an image
# without a digest (no tag, latest or a version tag alike), so WH-IMG-001 does not say it again.
digest_required if data.params.requireDigest[k8s.environment] == true

# METADATA
# title: Images have an explicit tag other than latest, and any digest is well-formed
# description: An image without a tag means latest, which changes under the same manifest; two pods of one ReplicaSet can run different code and a rollback restores nothing. A malformed digest fails every pull. Where the environment requires digests (params.requireDigest), an image without one is WH-IMG-003's finding instead.
# custom:
#   id: WH-IMG-001
#   severity: error
deny contains {"rule": "WH-IMG-001", "msg": msg} if {
	some i in images
	not templated(i.image)
	not digest_required
	not has_digest(i.image)
	not malformed_digest(i.image)
	not tag(i.image)
	msg := sprintf("%s image %q has no tag (implicitly latest): set a version tag or a digest (kustomize images: newTag/digest)", [i.what, i.image])
}

deny contains {"rule": "WH-IMG-001", "msg": msg} if {
	some i in images
	not templated(i.image)
	malformed_digest(i.image)
	msg := sprintf("%s image %q: digest is malformed: sha256 needs 64 hex characters (lowercase), so the pull fails; set the full digest (kustomize images: digest)", [i.what, i.image])
}

deny contains {"rule": "WH-IMG-001", "msg": msg} if {
	some i in images
	not digest_required
	not has_digest(i.image)
	not malformed_digest(i.image)
	tag(i.image) == "latest"
	msg := sprintf("%s image %q uses the latest tag: pin a version tag or a digest", [i.what, i.image])
}

# METADATA
# title: Images contain no unrendered template expressions
# description: A {{ }} or ${ } left in an image is a templating step that did not run; the kubelet cannot pull it and the rollout stalls.
# custom:
#   id: WH-IMG-002
#   severity: error
deny contains {"rule": "WH-IMG-002", "msg": msg} if {
	some i in images
	templated(i.image)
	msg := sprintf("%s image %q contains an unrendered template expression: set the image through kustomize images (newName/newTag/digest)", [i.what, i.image])
}

# METADATA
# title: Production images are pinned by digest
# description: Only a digest is immutable; production must run exactly the build that was tested and promoted. Reported for every image without a digest (no tag, latest or a version tag) where params.requireDigest is true; a malformed digest is WH-IMG-001's finding.
# custom:
#   id: WH-IMG-003
#   severity: error
deny contains {"rule": "WH-IMG-003", "msg": msg} if {
	digest_required
	some i in images
	not templated(i.image)
	not has_digest(i.image)
	not malformed_digest(i.image)
	msg := sprintf("%s image %q is not pinned by digest in %s: set it as name@sha256:<digest> (kustomize images: digest)", [i.what, i.image, k8s.environment])
}

# METADATA
# title: Images come from an allowed registry
# description: Images from other registries were not built and scanned by our CI and may change or vanish.
# custom:
#   id: WH-IMG-004
#   severity: error
deny contains {"rule": "WH-IMG-004", "msg": msg} if {
	some i in images
	not templated(i.image)
	not allowed(i.image)
	msg := sprintf("%s image %q is not from an allowed registry (%s): push it there and reference that copy", [i.what, i.image, concat(", ", data.params.allowedRegistries)])
}

allowed(image) if {
	some prefix in data.params.allowedRegistries
	startswith(image, prefix)
}
