//! `authlog clients …` and `authlog tokens …`: the real binary run as a
//! subprocess against a real server, for the whole client lifecycle,
//! token revocation, and the ways a command can fail (what it prints and
//! its exit status).

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::harness::{binary, Server, ADMIN_SECRET};

/// What one CLI run left behind.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Asserts exit 0 and returns stdout.
    fn ok(&self) -> &str {
        assert_eq!(
            self.code,
            Some(0),
            "stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        &self.stdout
    }

    /// Asserts exit 0 and parses stdout as JSON.
    fn json(&self) -> Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }

    /// Asserts exit `code` and returns stderr.
    fn failed(&self, code: i32) -> &str {
        assert_eq!(
            self.code,
            Some(code),
            "stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        &self.stderr
    }
}

/// Runs `authlog ARGS` with only `env` among the CLI's variables, feeding
/// `stdin` when given.
fn run(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let mut child = Command::new(binary())
        .args(args)
        .env_remove("AUTHLOG_URL")
        .env_remove("AUTHLOG_TOKEN")
        .env_remove("AUTHLOG_CLIENT_ID")
        .env_remove("AUTHLOG_CLIENT_SECRET")
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// Runs `authlog ARGS` against `s` as `authlog-admin` (URL and secret
/// from the environment).
fn admin(s: &Server, args: &[&str]) -> Run {
    run(
        args,
        &[
            ("AUTHLOG_URL", &s.base),
            ("AUTHLOG_CLIENT_SECRET", ADMIN_SECRET),
        ],
        None,
    )
}

/// The value printed for `field` by a `field  value` listing.
fn field<'a>(listing: &'a str, field: &str) -> &'a str {
    listing
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)
                .filter(|rest| rest.starts_with(' '))
                .map(str::trim)
        })
        .unwrap_or_else(|| panic!("no {field} in {listing}"))
}

fn token_status(s: &Server, id: &str, secret: &str) -> u16 {
    s.token_basic(id, secret, None).status().as_u16()
}

fn ids(list: &Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect()
}

#[test]
fn a_client_lives_its_whole_life_through_the_cli() {
    let s = Server::start();

    // create: the table shows the secret once, and it works.
    let created = admin(
        &s,
        &[
            "clients",
            "create",
            "--id",
            "svc",
            "--name",
            "Billing service",
            "--grant-type",
            "client_credentials",
            "--scope",
            "invoices:read invoices:write",
        ],
    );
    let listing = created.ok();
    assert_eq!(field(listing, "client_id"), "svc");
    assert_eq!(field(listing, "client_name"), "Billing service");
    assert_eq!(field(listing, "status"), "active");
    assert_eq!(field(listing, "scope"), "invoices:read invoices:write");
    let first_secret = field(listing, "client_secret").to_owned();
    assert!(first_secret.starts_with("alcs_"), "{listing}");
    assert!(
        created.stderr.contains("shown only this once"),
        "{}",
        created.stderr
    );
    assert!(!created.stderr.contains(&first_secret));
    assert_eq!(token_status(&s, "svc", &first_secret), 200);

    // create from a JSON body on stdin, a flag overriding it, --json out.
    let app = run(
        &[
            "clients",
            "create",
            "--from-json",
            "-",
            "--public",
            "--name",
            "From the flag",
            "--json",
        ],
        &[("AUTHLOG_URL", &s.base), ("AUTHLOG_CLIENT_SECRET", ADMIN_SECRET)],
        Some(r#"{"client_id": "app", "client_name": "From stdin", "redirect_uris": ["http://127.0.0.1:9999/cb"]}"#),
    )
    .json();
    assert_eq!(app["client_id"], "app");
    assert_eq!(app["client_name"], "From the flag");
    assert_eq!(app["token_endpoint_auth_method"], "none");
    assert_eq!(app["grant_types"], json!(["authorization_code"]));
    assert!(app.get("client_secret").is_none(), "{app}");

    // list: an aligned table, and the server's JSON.
    let table = admin(&s, &["clients", "list"]).ok().to_owned();
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("CLIENT_ID"), "{table}");
    let row = lines
        .find(|l| l.starts_with("svc "))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("Billing service"), "{row}");
    assert!(row.contains("client_credentials"), "{row}");
    for column in ["STATUS", "GRANT_TYPES", "CREATED"] {
        let at = header.find(column).unwrap();
        assert_ne!(row.as_bytes()[at], b' ', "{column} misaligned:\n{table}");
        assert_eq!(
            row.as_bytes()[at - 1],
            b' ',
            "{column} misaligned:\n{table}"
        );
    }
    assert!(row[header.find("STATUS").unwrap()..].starts_with("active"));
    assert!(table.lines().any(|l| l.starts_with("authlog-admin ")));
    assert!(!table.contains(&first_secret));

    let list = admin(&s, &["clients", "list", "--json"]).json();
    let all = ids(&list);
    for id in ["app", "authlog-admin", "svc"] {
        assert!(all.contains(&id), "{all:?}");
    }
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted);
    assert!(list["next_cursor"].is_null());
    assert!(!list.to_string().contains("alcs_"));
    let svc = &list["items"][all.iter().position(|i| *i == "svc").unwrap()];
    assert_eq!(svc["grant_types"], json!(["client_credentials"]));
    let paused = admin(&s, &["clients", "list", "--status", "paused", "--json"]).json();
    assert!(ids(&paused).is_empty(), "{paused}");
    let found = admin(&s, &["clients", "list", "--search", "BILLING", "--json"]).json();
    assert_eq!(ids(&found), ["svc"]);

    // get
    let got = admin(&s, &["clients", "get", "svc"]);
    assert_eq!(field(got.ok(), "client_name"), "Billing service");
    assert!(!got.stdout.contains("alcs_"), "{}", got.stdout);
    let got = admin(&s, &["clients", "get", "svc", "--json"]).json();
    assert_eq!(got["scope"], "invoices:read invoices:write");
    assert_eq!(got["status"], "active");

    // pause: no more tokens; resume: tokens again.
    assert_eq!(
        admin(&s, &["clients", "pause", "svc"]).ok(),
        "client svc: paused\n"
    );
    assert_eq!(token_status(&s, "svc", &first_secret), 400);
    let paused = admin(&s, &["clients", "list", "--status", "paused", "--json"]).json();
    assert_eq!(ids(&paused), ["svc"]);
    let resumed = admin(&s, &["clients", "resume", "svc", "--json"]).json();
    assert_eq!(resumed["status"], "active");
    assert_eq!(token_status(&s, "svc", &first_secret), 200);

    // rotate with a grace period: old and new secrets both work.
    let rotated = admin(&s, &["clients", "rotate", "svc", "--grace-seconds", "3600"]);
    let second_secret = field(rotated.ok(), "client_secret").to_owned();
    assert!(second_secret.starts_with("alcs_"));
    assert_ne!(second_secret, first_secret);
    assert_ne!(field(&rotated.stdout, "previous_secret_expires_at"), "-");
    assert!(rotated.stderr.contains("shown only this once"));
    assert_eq!(token_status(&s, "svc", &first_secret), 200);
    assert_eq!(token_status(&s, "svc", &second_secret), 200);

    // rotate without grace: the previous secret stops at once.
    let rotated = admin(
        &s,
        &["clients", "rotate", "svc", "--grace-seconds", "0", "--json"],
    )
    .json();
    let third_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(rotated["client_id"], "svc");
    assert_eq!(token_status(&s, "svc", &second_secret), 401);
    assert_eq!(token_status(&s, "svc", &third_secret), 200);

    // delete: gone for the API and the token endpoint.
    assert_eq!(
        admin(&s, &["clients", "delete", "svc"]).ok(),
        "deleted client svc\n"
    );
    let missing = admin(&s, &["clients", "get", "svc"]);
    assert!(
        missing.failed(1).contains("client svc not found"),
        "{}",
        missing.stderr
    );
    assert_eq!(token_status(&s, "svc", &third_secret), 401);
    let list = admin(&s, &["clients", "list", "--json"]).json();
    assert!(!ids(&list).contains(&"svc"));
}

#[test]
fn tokens_are_revoked_one_by_id_or_all_of_a_client() {
    let s = Server::start();
    let admin_token = s.admin_token(None);
    let (id, secret) = s.service_client(&admin_token, "svc", "a b");
    let issue = || -> String {
        let r = s.token_basic(&id, &secret, None);
        assert_eq!(r.status(), 200);
        r.json::<Value>().unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (t1, t2) = (issue(), issue());
    let jti = s.introspect(&id, &secret, &t1)["jti"]
        .as_str()
        .unwrap()
        .to_owned();

    // tokens list finds the ids (never the values).
    let table = admin(&s, &["tokens", "list", "--client", "svc"])
        .ok()
        .to_owned();
    assert!(table.starts_with("TOKEN_ID"), "{table}");
    assert!(table.lines().any(|l| l.starts_with(&jti)), "{table}");
    assert!(!table.contains(&t1) && !table.contains(&t2));
    let listed = admin(&s, &["tokens", "list", "--client", "svc", "--json"]).json();
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);

    // One token by id.
    assert_eq!(
        admin(&s, &["tokens", "revoke", &jti]).ok(),
        format!("revoked token {jti}\n")
    );
    assert_eq!(s.introspect(&id, &secret, &t1)["active"], false);
    assert_eq!(s.introspect(&id, &secret, &t2)["active"], true);
    // Revoking it again is idempotent; an unknown id is not found.
    admin(&s, &["tokens", "revoke", &jti]).ok();
    let unknown = "01a24710-0000-7000-8000-000000000000";
    let r = admin(&s, &["tokens", "revoke", unknown]);
    assert_eq!(
        r.failed(1),
        format!("authlog: Not found: token {unknown} not found (HTTP 404)\n")
    );

    // All of a client's.
    assert_eq!(
        admin(&s, &["tokens", "revoke", "--client", "svc", "--all"]).ok(),
        "revoked 1 tokens of client svc\n"
    );
    assert_eq!(s.introspect(&id, &secret, &t2)["active"], false);
    let t3 = issue();
    let revoked = admin(
        &s,
        &["tokens", "revoke", "--client", "svc", "--all", "--json"],
    )
    .json();
    assert_eq!(revoked, json!({"revoked": 1}));
    assert_eq!(s.introspect(&id, &secret, &t3)["active"], false);

    // Usage errors: neither a token id nor --client --all, or both.
    admin(&s, &["tokens", "revoke"]).failed(2);
    admin(&s, &["tokens", "revoke", "--client", "svc"]).failed(2);
    admin(&s, &["tokens", "revoke", &jti, "--all", "--client", "svc"]).failed(2);
}

#[test]
fn failures_print_the_servers_words_and_exit_non_zero() {
    let s = Server::start();
    let url = s.base.as_str();

    // An unknown client: the problem's title and detail.
    let r = admin(&s, &["clients", "get", "nope"]);
    assert_eq!(
        r.failed(1),
        "authlog: Not found: client nope not found (HTTP 404)\n"
    );
    assert!(r.stdout.is_empty());
    let r = admin(&s, &["clients", "pause", "nope", "--json"]);
    assert!(
        r.failed(1).contains("client nope not found"),
        "{}",
        r.stderr
    );

    // A validation error names the field.
    let r = admin(
        &s,
        &["clients", "create", "--grant-type", "client_credentials"],
    );
    assert!(
        r.failed(1).contains("client_name: is required"),
        "{}",
        r.stderr
    );

    // Wrong client credentials: the OAuth error, never the secret.
    let wrong = "wrong-secret-0123456789-abcdef";
    let r = run(
        &["clients", "list", "--url", url, "--client-secret", wrong],
        &[],
        None,
    );
    assert!(r.failed(1).contains("invalid_client"), "{}", r.stderr);
    assert!(r.stderr.contains("authlog-admin"), "{}", r.stderr);
    assert!(!r.stderr.contains(wrong) && !r.stdout.contains(wrong));

    // A bad bearer token.
    let r = run(
        &["clients", "list"],
        &[("AUTHLOG_URL", url), ("AUTHLOG_TOKEN", "alat_not-a-token")],
        None,
    );
    assert!(
        r.failed(1).contains("Authentication required"),
        "{}",
        r.stderr
    );

    // A real token with one scope reads but cannot write.
    let reader = s.admin_token(Some("clients:read"));
    let env = [("AUTHLOG_URL", url), ("AUTHLOG_TOKEN", reader.as_str())];
    let list = run(&["clients", "list", "--json"], &env, None).json();
    assert!(ids(&list).contains(&"authlog-admin"));
    let r = run(&["clients", "pause", "authlog-cli"], &env, None);
    assert!(
        r.failed(1)
            .contains("this request needs the clients:write scope"),
        "{}",
        r.stderr
    );

    // Another client's credentials: the CLI asks only for the scope the
    // command needs, so a read-only client can list but not pause.
    let admin_token = s.admin_token(None);
    let (_, ro_secret) = s.service_client(&admin_token, "ops-reader", "clients:read");
    let env = [
        ("AUTHLOG_URL", url),
        ("AUTHLOG_CLIENT_ID", "ops-reader"),
        ("AUTHLOG_CLIENT_SECRET", ro_secret.as_str()),
    ];
    let table = run(&["clients", "list"], &env, None);
    assert!(table.ok().contains("ops-reader"));
    let r = run(&["clients", "pause", "authlog-cli"], &env, None);
    assert!(r.failed(1).contains("invalid_scope"), "{}", r.stderr);
    assert!(r.stderr.contains("ops-reader"), "{}", r.stderr);

    // Credentials: none, or two kinds at once, is a usage error.
    let r = run(&["clients", "list", "--url", url], &[], None);
    assert!(r.failed(2).contains("no credentials"), "{}", r.stderr);
    let r = run(
        &[
            "clients",
            "list",
            "--url",
            url,
            "--token",
            "x",
            "--client-secret",
            "y",
        ],
        &[],
        None,
    );
    assert!(r.failed(2).contains("not both"), "{}", r.stderr);

    // A bad --from-json fails before anything is sent.
    let head = s.head();
    let r = run(
        &["clients", "create", "--from-json", "-"],
        &[
            ("AUTHLOG_URL", url),
            ("AUTHLOG_CLIENT_SECRET", ADMIN_SECRET),
        ],
        Some("[1, 2]"),
    );
    assert!(r.failed(1).contains("is not a JSON object"), "{}", r.stderr);
    assert_eq!(s.head(), head, "no token was issued");

    // Nothing the CLI printed anywhere holds the admin secret.
    let r = admin(&s, &["clients", "get", "authlog-admin"]);
    assert!(!r.ok().contains(ADMIN_SECRET) && !r.stderr.contains(ADMIN_SECRET));
}

#[test]
fn an_unreachable_server_is_named_and_a_bad_url_is_a_usage_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let r = run(
        &["clients", "list", "--url", &url],
        &[("AUTHLOG_CLIENT_SECRET", "some-secret")],
        None,
    );
    let stderr = r.failed(1);
    assert!(
        stderr.starts_with(&format!(
            "authlog: cannot reach authlog at {url}/oauth/token"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("Connection refused"), "{stderr}");
    let r = run(
        &["tokens", "revoke", "some-id", "--url", &url],
        &[("AUTHLOG_TOKEN", "t")],
        None,
    );
    assert!(r.failed(1).contains("cannot reach authlog"), "{}", r.stderr);

    let r = run(
        &["clients", "list", "--url", "127.0.0.1:8080"],
        &[("AUTHLOG_TOKEN", "t")],
        None,
    );
    assert!(
        r.failed(2).contains("not an http or https URL"),
        "{}",
        r.stderr
    );
    run(&["clients", "frobnicate"], &[], None).failed(2);
}
