package webhook.secrets_test

import data.lib.fixtures_test as f
import data.webhook.secrets

configmap(entries) := {"kind": "ConfigMap", "metadata": f.meta("x"), "data": entries}

with_env(env) := json.patch(f.rollout, [{"op": "add", "path": "/spec/template/spec/containers/0/env", "value": env}])

test_secret_with_data_fires_but_empty_secret_passes if {
	"WH-SEC-001" in f.ids(secrets.deny) with input as {"kind": "Secret", "metadata": f.meta("x"), "stringData": {"a": "b"}}
	count(secrets.deny) == 0 with input as {"kind": "Secret", "metadata": f.meta("x"), "type": "kubernetes.io/service-account-token"}
}

test_env_literals if {
	"WH-SEC-002" in f.ids(secrets.deny) with input as with_env([{"name": "STRIPE_API_KEY", "value": "sk_live_x"}])
	count(secrets.deny) == 0 with input as with_env([
		{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
		{"name": "DB_PASSWORD_FILE", "value": "/var/run/secrets/db"},
		{"name": "TOKEN_TTL", "value": "1h"},
	])
}

test_configmap_keys_and_embedded_lines if {
	"WH-SEC-003" in f.ids(secrets.deny) with input as configmap({"REDIS_PASSWORD": "x"})
	"WH-SEC-003" in f.ids(secrets.deny) with input as configmap({"app.properties": "db.url=jdbc:x\ndb.password=hunter2\n"})
	"WH-SEC-003" in f.ids(secrets.deny) with input as configmap({"config.yaml": "auth:\n  jwtSecret: \"abc\"\n"})
	"WH-SEC-003" in f.ids(secrets.deny) with input as configmap({"key.pem": "-----BEGIN RSA PRIVATE KEY-----\nMII\n"})
	count(secrets.deny) == 0 with input as configmap({"config.yaml": "db:\n  password: ${DB_PASSWORD}\n  passwordFile: /run/db\nsecret:\n  name: x\ntls:\n  secretName: t\napiKey: \"\"\n"})
}

test_credentials_in_urls_anywhere if {
	annotated := {"kind": "Service", "metadata": object.union(f.meta("x"), {"annotations": {"a": "redis://:pw@redis:6379"}})}
	"WH-SEC-004" in f.ids(secrets.deny) with input as annotated
	app := {"kind": "Application", "metadata": {"name": "x"}, "spec": {"source": {"repoURL": "https://bot:ghp_x@github.com/company/repo.git"}}}
	"WH-SEC-004" in f.ids(secrets.deny) with input as app
	"WH-SEC-004" in f.ids(secrets.deny) with input as with_env([{"name": "AMQP_URL", "value": "amqp://u:p@rabbitmq:5672"}])
	count(secrets.deny) == 0 with input as with_env([{"name": "AMQP_URL", "value": "amqp://u:${AMQP_PASSWORD}@rabbitmq:5672"}])
}

test_more_credential_names if {
	every name in ["DB_PASS", "DB_PASSWD", "DB_PWD", "dbPass", "AWS_SECRET_ACCESS_KEY", "S3_ACCESS_KEY", "DJANGO_SECRET_KEY", "SENTRY_DSN", "DB_CONNECTION_STRING", "REDIS_CONN_STRING"] {
		f.ids(secrets.deny) == {"WH-SEC-002"} with input as with_env([{"name": name, "value": "x"}])
	}
	count(secrets.deny) == 0 with input as with_env([
		{"name": "TOKEN_TTL", "value": "1h"},
		{"name": "PASSWORD_FILE", "value": "/run/db"},
		{"name": "PASSWORD_MIN_LENGTH", "value": "12"},
		{"name": "API_KEY_HEADER", "value": "X-Api-Key"},
		{"name": "secretName", "value": "tls"},
		{"name": "PWD", "value": "/app"},
		{"name": "CACHE_BYPASS", "value": "true"},
	])
}

github_token := concat("", ["ghp_", substring(crypto.sha256("x"), 0, 36)])

test_secret_shaped_values_fire_whatever_the_name if {
	every value in ["AKIAIOSFODNN7EXAMPLE", github_token, "sk_live_51Habc", "xoxb-123-456-abc", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n"] {
		f.ids(secrets.deny) == {"WH-SEC-002"} with input as with_env([{"name": "SETTING", "value": value}])
		f.ids(secrets.deny) == {"WH-SEC-003"} with input as configmap({"settings.ini": sprintf("[aws]\nid = %s\n", [value])})
	}
	msgs := {r.msg | some r in secrets.deny with input as with_env([{"name": "AWS_ACCESS_KEY_ID", "value": "AKIAIOSFODNN7EXAMPLE"}])}
	count(msgs) == 1
	every m in msgs {
		contains(m, "AWS access key id")
		not contains(m, "AKIAIOSFODNN7EXAMPLE")
	}
	count(secrets.deny) == 0 with input as with_env([{"name": "STRIPE_MODE", "value": "sk_test_placeholder"}, {"name": "REGION", "value": "AKIA"}])
}

test_url_credentials_already_reported_as_literal_env_values_are_reported_once if {
	# WH-SEC-002 reports the literal under a credential name; WH-SEC-004 does not repeat it
	every name in ["DB_CONNECTION_STRING", "SENTRY_DSN", "DATABASE_PASSWORD"] {
		f.ids(secrets.deny) == {"WH-SEC-002"} with input as with_env([{"name": name, "value": "postgres://app:s3cret@db:5432/app"}])
	}

	# ... and a secret-shaped value whatever its name
	shaped := sprintf("https://bot:%s@github.com/company/repo.git", [github_token])
	f.ids(secrets.deny) == {"WH-SEC-002"} with input as with_env([{"name": "REPO", "value": shaped}])

	# an env var WH-SEC-002 does not report is still WH-SEC-004's, in init containers and CronJobs too
	f.ids(secrets.deny) == {"WH-SEC-004"} with input as with_env([{"name": "DATABASE_URL", "value": "postgres://app:s3cret@db:5432/app"}])
	init := json.patch(f.rollout, [{"op": "add", "path": "/spec/template/spec/initContainers", "value": [{"name": "migrate", "image": "x", "env": [{"name": "DATABASE_URL", "value": "postgres://app:s3cret@db"}]}]}])
	f.ids(secrets.deny) == {"WH-SEC-004"} with input as init
	cron := {"kind": "CronJob", "metadata": f.meta("x"), "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "env": [
		{"name": "DB_CONNECTION_STRING", "value": "postgres://app:s3cret@db"},
		{"name": "DATABASE_URL", "value": "postgres://app:s3cret@db"},
	]}]}}}}}}
	{r.rule | some r in secrets.deny; contains(r.msg, "env[0]")} == set() with input as cron
	{r.rule | some r in secrets.deny; contains(r.msg, "env[1]")} == {"WH-SEC-004"} with input as cron
	{r.rule | some r in secrets.deny; contains(r.msg, "DB_CONNECTION_STRING")} == {"WH-SEC-002"} with input as cron
}

test_an_env_like_field_outside_a_pod_spec_is_still_wh_sec_004s if {
	# only container env vars are WH-SEC-002's: the same shape elsewhere is a plain URL with credentials
	obj := {"kind": "Thing", "metadata": f.meta("x"), "spec": {"containers": [{"env": [{"name": "DB_PASSWORD", "value": "postgres://app:s3cret@db"}]}]}}
	f.ids(secrets.deny) == {"WH-SEC-004"} with input as obj
}

test_url_credentials_already_reported_in_configmaps_are_reported_once if {
	# a key named like a credential (WH-SEC-003, first clause)
	f.ids(secrets.deny) == {"WH-SEC-003"} with input as configmap({"database_dsn": "postgres://app:s3cret@db:5432/app"})
	count(secrets.deny) == 1 with input as configmap({"database_dsn": "postgres://app:s3cret@db:5432/app"})

	# a credential line of an embedded config file (its second clause)
	f.ids(secrets.deny) == {"WH-SEC-003"} with input as configmap({"app.properties": "db.host=db\ndb.connection_string=postgres://app:s3cret@db\n"})

	# a secret-shaped value (its third clause)
	f.ids(secrets.deny) == {"WH-SEC-003"} with input as configmap({"repo": sprintf("https://bot:%s@github.com/company/repo.git", [github_token])})

	# a URL with credentials on a line WH-SEC-003 does not report is still WH-SEC-004's
	f.ids(secrets.deny) == {"WH-SEC-004"} with input as configmap({"AMQP_URL": "amqp://u:p@rabbitmq:5672"})
	mixed := configmap({"config.yaml": "db:\n  password: hunter2\nbroker:\n  url: amqp://u:p@rabbitmq:5672\n"})
	f.ids(secrets.deny) == {"WH-SEC-003", "WH-SEC-004"} with input as mixed
}

with_cmd(field, list) := json.patch(f.rollout, [{"op": "add", "path": sprintf("/spec/template/spec/containers/0/%s", [field]), "value": list}])

test_credentials_in_command_line_flags_fire if {
	every case in [
		["args", ["--database-password=s3cret"]],
		["args", ["--listen=:8080", "--token=abc123"]],
		["args", ["-api-key='k3y'"]],
		["command", ["/bin/app", "--db-pass=hunter2"]],
		["command", ["sh", "-c", "exec /bin/app --listen=:8080 --jwtSecret=abc"]],
		["args", ["--password", "s3cret"]],
		["args", ["--client-secret", "\"s3cret\""]],
	] {
		{r.rule | some r in secrets.deny} == {"WH-SEC-002"} with input as with_cmd(case[0], case[1])
	}
}

test_command_line_flag_message_names_the_flag if {
	some r in secrets.deny with input as with_cmd("args", ["--database-password=s3cret"])
	contains(r.msg, "--database-password")
	contains(r.msg, "args[0]")
}

test_command_line_references_and_other_flags_pass if {
	every case in [
		["args", ["--database-password=$(DB_PASSWORD)"]],
		["args", ["--token=${TOKEN}", "--api-key=$API_KEY"]],
		["args", ["--password", "$(DB_PASSWORD)"]],
		["args", ["--password-file=/var/run/secrets/db/password", "--token-ttl=1h", "--secret-name=webhook"]],
		["args", ["--password", "--verbose"]],
		["args", ["--password"]],
		["args", ["--password="]],
		["command", ["sh", "-c", "exec /bin/app --password=\"$DB_PASSWORD\""]],
		["args", ["--target=http://svc:8080", "--rps=20", "--synthetic-tenants"]],
	] {
		count(secrets.deny) == 0 with input as with_cmd(case[0], case[1])
	}
}
