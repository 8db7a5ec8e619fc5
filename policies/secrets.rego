# Secrets hygiene: no credential is ever committed to git in clear or base64. Secrets come from Vault
# through ExternalSecret; anything that looks like a literal credential is rejected.
package webhook.secrets

import data.lib.k8s

# Names that hold a credential: they END with the word, so SECRET_NAME, TOKEN_TTL, API_KEY_HEADER or
# PASSWORD_FILE (a path) do not match while DB_PASSWORD, jwtSecret, api-key, AWS_SECRET_ACCESS_KEY,
# DB_PASS, SENTRY_DSN and DB_CONNECTION_STRING do. PASS and PWD need a separator before them
# (BYPASS, PWD the working directory).
credential_name := `(?i)(password|passwd|secret|token|api[_-]?key|private[_-]?key|access[_-]?key|secret[_-]?key|credentials?|conn(ection)?[_-]?string|dsn|(^|[_.-])pass|[_.-]pwd|[a-z](?-i:Pass|Pwd))$`

# Values whose shape gives them away as a credential whatever the name: the kind of credential,
# named in messages instead of the value.
secret_shapes := {
	"an AWS access key id": `\bAKIA[0-9A-Z]{16}\b`,
	"a GitHub token": `\bgh[pousr]_[A-Za-z0-9]{36,}`,
	"a Stripe live secret key": `\bsk_live_[0-9A-Za-z]+`,
	"a Slack token": `\bxox[baprs]-[0-9A-Za-z-]+`,
	"a private key": `-----BEGIN [A-Z ]*PRIVATE KEY-----`,
}

# The kinds of credential a value looks like.
secret_shape(value) := {kind |
	some kind, pattern in secret_shapes
	regex.match(pattern, value)
}

# A `key: value` or `key=value` line of an embedded config file whose key is a credential name and
# whose value is not empty, not a placeholder (${VAR}, {{ }}) and not a quoted empty string.
credential_line := `(?im)^[ \t-]*["']?([\w.-]*(?:password|passwd|secret|token|api[_-]?key|private[_-]?key|access[_-]?key|secret[_-]?key|credentials?|conn(?:ection)?[_-]?string|[_.-]pass|[_.-]pwd))["']?[ \t]*[:=][ \t]*["']?[^\s"'$<{#]`

# scheme://user:password@host, unless the password is a ${VAR} or {{ }} placeholder.
url_credentials := `[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:[^/\s@${][^/\s@]*@`

# METADATA
# title: No Secret with data in git
# description: base64 is not encryption; a Secret in git is readable by everyone with repository access, forever. Use an ExternalSecret.
# custom:
#   id: WH-SEC-001
#   severity: error
deny contains {"rule": "WH-SEC-001", "msg": msg} if {
	input.kind == "Secret"
	some field in ["data", "stringData"]
	count(object.get(input, field, {})) > 0
	msg := sprintf("a Secret with %s is committed to git: delete it, store the values in Vault and create the Secret with an ExternalSecret", [field])
}

# METADATA
# title: No literal credentials in environment variables or command-line flags
# description: An env value named like a password, token or key, or a literal value after a flag so named in a container's command or args (--database-password=s3cret, --token s3cret), is visible in git, in the pod spec, in the process list and to anyone who can read the workload; use valueFrom.secretKeyRef (and $(VAR) on the command line).
# custom:
#   id: WH-SEC-002
#   severity: error
deny contains {"rule": "WH-SEC-002", "msg": msg} if {
	some x in k8s.containers
	some env in x.container.env
	regex.match(credential_name, env.name)
	is_string(env.value)
	env.value != ""
	msg := sprintf("%s sets %s to a literal value: take it from a Secret with valueFrom.secretKeyRef", [x.what, env.name])
}

deny contains {"rule": "WH-SEC-002", "msg": msg} if {
	some x in k8s.containers
	some env in x.container.env
	not regex.match(credential_name, env.name)
	is_string(env.value)
	some kind in secret_shape(env.value)
	msg := sprintf("%s sets %s to a literal value that looks like %s: revoke it, store it in Vault and take it from a Secret with valueFrom.secretKeyRef", [x.what, env.name, kind])
}

deny contains {"rule": "WH-SEC-002", "msg": msg} if {
	some x in k8s.containers
	some field in ["command", "args"]
	some i, arg in object.get(x.container, field, [])
	is_string(arg)
	some m in regex.find_all_string_submatch_n(credential_flag, arg, -1)
	regex.match(credential_name, m[1])
	msg := sprintf("%s passes %s[%d] %s with a literal value: read it from an environment variable set from a Secret (valueFrom.secretKeyRef) and pass $(VAR) instead", [x.what, field, i, flag_of(m[1])])
}

deny contains {"rule": "WH-SEC-002", "msg": msg} if {
	some x in k8s.containers
	some field in ["command", "args"]
	list := object.get(x.container, field, [])
	some i, arg in list
	is_string(arg)
	m := regex.find_all_string_submatch_n(`^--?([A-Za-z][\w.-]*)$`, arg, 1)[0]
	regex.match(credential_name, m[1])
	value := list[i + 1]
	is_string(value)
	literal_flag_value(value)
	msg := sprintf("%s passes %s[%d] %s followed by a literal value: read it from an environment variable set from a Secret (valueFrom.secretKeyRef) and pass $(VAR) instead", [x.what, field, i, flag_of(m[1])])
}

# A --flag=value (or -flag=value) anywhere in a command or args entry (a `sh -c` script too), with
# the flag's name and the first character of a literal value: not empty, not a $(VAR) / $VAR / ${VAR}
# reference, not a {{ }} placeholder or a <placeholder>.
credential_flag := `(?:^|[\s"'])--?([A-Za-z][\w.-]*)=["']?[^\s"'$<{]`

flag_of(name) := sprintf("--%s", [name])

literal_flag_value(value) if {
	value != ""
	not startswith(value, "-")
	not regex.match(`^["']?[$<{]`, value)
}

# METADATA
# title: No credentials in ConfigMaps
# description: ConfigMaps are not protected like Secrets and are committed in clear; a password key or a password line in an embedded config file leaks it.
# custom:
#   id: WH-SEC-003
#   severity: error
deny contains {"rule": "WH-SEC-003", "msg": msg} if {
	input.kind == "ConfigMap"
	some key, value in object.get(input, "data", {})
	regex.match(credential_name, key)
	value != ""
	msg := sprintf("data key %q holds a credential: move it to Vault and read it from the Secret (ExternalSecret)", [key])
}

deny contains {"rule": "WH-SEC-003", "msg": msg} if {
	input.kind == "ConfigMap"
	some key, value in object.get(input, "data", {})
	some m in regex.find_all_string_submatch_n(credential_line, value, -1)
	msg := sprintf("data %q sets %s to a literal value: move it to Vault and pass it as an environment variable from the Secret", [key, m[1]])
}

deny contains {"rule": "WH-SEC-003", "msg": msg} if {
	input.kind == "ConfigMap"
	some key, value in object.get(input, "data", {})
	not regex.match(credential_name, key)
	some kind in secret_shape(value)
	msg := sprintf("data %q contains %s: revoke it, move it to Vault and mount or pass it from a Secret", [key, kind])
}

# METADATA
# title: No credentials inside URLs
# description: user:password@host in a URL leaks the password wherever the string goes (env, ConfigMaps, annotations, Argo CD repoURL, logs). A value WH-SEC-002 or WH-SEC-003 already reports as a literal credential (an env value or ConfigMap key named like one, a credential line of an embedded config file, a secret-shaped value) is not reported again.
# custom:
#   id: WH-SEC-004
#   severity: error
deny contains {"rule": "WH-SEC-004", "msg": msg} if {
	input.kind != "Secret"
	some [path, s] in k8s.strings(input)
	regex.match(url_credentials, s)
	not env_literal_reported(path, s)
	not configmap_value_reported(path, s)
	msg := sprintf("%s contains a URL with user:password: remove the credentials from the URL and pass them from a Secret (or an Argo CD repository credential)", [k8s.path_text(path)])
}

# The string at PATH is the literal value of a container env var that WH-SEC-002 reports: one named like
# a credential (its first clause) or one that looks like a credential whatever its name (its second).
env_literal_reported(path, s) if {
	env := env_var_at(path)
	regex.match(credential_name, env.name)
	s != ""
}

env_literal_reported(path, s) if {
	env_var_at(path)
	count(secret_shape(s)) > 0
}

# The env var whose value sits at PATH (…, containers, i, "env", j, "value") in a container of one of
# the input's pod specs, exactly the env vars WH-SEC-002 reads through k8s.containers.
env_var_at(path) := env if {
	n := count(path)
	n >= 5
	path[n - 1] == "value"
	path[n - 3] == "env"
	is_number(path[n - 2])
	path[n - 5] in object.keys(k8s.container_fields)
	is_number(path[n - 4])
	object.get(input, array.slice(path, 0, n - 5), null) in k8s.pod_specs
	env := object.get(input, array.slice(path, 0, n - 1), null)
}

# The string at PATH is a ConfigMap data value that WH-SEC-003 reports as a whole (a key named like a
# credential), or every line of it with user:password in a URL is a line WH-SEC-003 reports (a
# credential line of an embedded config file, or one holding a secret-shaped value).
configmap_value_reported(path, _) if {
	input.kind == "ConfigMap"
	count(path) == 2
	path[0] == "data"
	regex.match(credential_name, path[1])
}

configmap_value_reported(path, s) if {
	input.kind == "ConfigMap"
	count(path) == 2
	path[0] == "data"
	every line in split(s, "\n") {
		url_line_reported(line)
	}
}

url_line_reported(line) if not regex.match(url_credentials, line)

url_line_reported(line) if regex.match(credential_line, line)

url_line_reported(line) if count(secret_shape(line)) > 0
