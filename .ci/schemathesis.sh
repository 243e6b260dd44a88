#!/usr/bin/env bash
# Fuzzes the running server against its own OpenAPI document: schemathesis
# (PyPI) generates requests for every documented operation with an admin
# token and fails on any 5xx, any undocumented status or content type, and
# any body that does not match its schema. Usage: .ci/schemathesis.sh BINARY
set -euo pipefail
binary=${1:?usage: .ci/schemathesis.sh path/to/authlog}
data=$(mktemp -d)
secret="schemathesis-admin-secret-$(date +%s%N)"
port_file="$data/stdout"
AUTHLOG_BOOTSTRAP_ADMIN_SECRET="$secret" AUTHLOG_LOG=warn \
  "$binary" serve --listen 127.0.0.1:0 --data "$data/data" >"$port_file" 2>"$data/stderr" &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
  grep -q "listening on" "$port_file" 2>/dev/null && break
  sleep 0.1
done
base=$(sed -n 's/^authlog listening on //p' "$port_file" | head -1)
[ -n "$base" ] || { echo "authlog did not start"; cat "$data/stderr"; exit 1; }
# An admin token, and a client, a token of it and a user for the
# operations on one record (see .ci/schemathesis.toml).
eval "$(python3 - "$base" "$secret" <<'PY'
import base64, json, sys, time, urllib.request
base, secret = sys.argv[1], sys.argv[2]
for _ in range(100):
    try:
        if urllib.request.urlopen(base + "/readyz").status == 200:
            break
    except Exception:
        time.sleep(0.1)

def call(method, path, body=None, auth=None, form=False):
    data = None
    headers = {"Authorization": auth} if auth else {}
    if form:
        data, headers["Content-Type"] = body.encode(), "application/x-www-form-urlencoded"
    elif body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    req = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    return json.load(urllib.request.urlopen(req))

def token(client_id, client_secret):
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    return call("POST", "/oauth/token", "grant_type=client_credentials", "Basic " + basic, form=True)["access_token"]

admin = token("authlog-admin", secret)
bearer = "Bearer " + admin
client = call("POST", "/api/admin/oauth-clients",
              {"client_id": "st-client", "client_name": "schemathesis",
               "grant_types": ["client_credentials"]}, bearer)
token("st-client", client["client_secret"])
token_id = call("GET", "/api/admin/oauth-clients/st-client/tokens", auth=bearer)["items"][0]["token_id"]
user = call("POST", "/api/admin/users",
            {"username": "st-user", "display_name": "Schemathesis",
             "password": "correct horse battery staple 42"}, bearer)
call("POST", "/api/admin/upstream-providers",
     {"id": "st-up", "name": "schemathesis upstream",
      "authorization_url": "https://upstream.example.com/authorize",
      "token_url": "https://upstream.example.com/token",
      "client_id": "authlog", "client_secret": "upstream-secret"}, bearer)
print(f"token={admin}")
print(f"export ST_CLIENT_ID=st-client ST_TOKEN_ID={token_id} ST_USER_ID={user['user_id']} ST_PROVIDER_ID=st-up")
PY
)"
# schemathesis's CLI through the interpreter pip installed it for (a
# console script may not be on PATH yet, e.g. under pyenv).
st() {
  python3 -c 'import sys; from schemathesis.cli import schemathesis; sys.argv[0] = "st"; sys.exit(schemathesis())' "$@"
}
# The live feed never ends by design; everything else is fuzzed.
st --config-file "$(dirname "$0")/schemathesis.toml" run "$base/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --exclude-path /api/audit/stream \
  --phases examples,coverage,fuzzing \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-40}" \
  --request-timeout 10 \
  --generation-deterministic \
  --no-color
