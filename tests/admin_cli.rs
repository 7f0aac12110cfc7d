//! `gatehouse admin …` as an operator runs it: the real binary as a child process against
//! `gatehouse dev`, the admin secret in its environment, secrets on stdin.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::time::Duration;

use common::admin::{admin, admin_at, admin_stdin};
use common::{DevProcess, client_credentials_token, eventually};
use gatehouse_testkit::{EchoUpstream, free_port};
use serde_json::{Value, json};

fn write_json(dir: &Path, name: &str, value: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, value.to_string()).expect("write JSON file");
    path.display().to_string()
}

/// The value of `key: value` in readable output.
fn field<'a>(stdout: &'a str, key: &str) -> Option<&'a str> {
    stdout.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(':')).map(str::trim)
}

/// The table row whose first column is `first`.
fn row<'a>(stdout: &'a str, first: &str) -> Option<&'a str> {
    stdout.lines().find(|l| l.split_whitespace().next() == Some(first))
}

#[test]
fn apis_from_a_file_list_as_table_and_json_and_fail_precisely() {
    let dir = tempfile::tempdir().unwrap();
    let dev = DevProcess::start(dir.path());
    let api = json!({"api_id": "cli-api", "name": "CLI API", "listen_path": "/cli/",
        "upstream_url": "http://127.0.0.1:9", "oauth": {"allowed_grant_types": ["client_credentials"]}});
    let file = write_json(dir.path(), "api.json", &api);

    let created = admin(&dev, &["apis", "create", "--file", &file]).ok();
    assert_eq!(field(&created.stdout, "api_id"), Some("cli-api"), "{created:#?}");
    assert_eq!(field(&created.stdout, "oauth.allowed_grant_types"), Some("client_credentials"));

    // A table: header, then a row whose columns line up with it.
    let list = admin(&dev, &["apis", "list"]).ok();
    let header = list.stdout.lines().next().unwrap_or_default();
    assert!(header.starts_with("API_ID"), "{list:#?}");
    let line = row(&list.stdout, "cli-api").unwrap_or_else(|| panic!("no cli-api row: {list:#?}"));
    assert_eq!(line.find("/cli/"), header.find("LISTEN_PATH"), "{list:#?}");
    assert!(line.contains("oauth:client_credentials"), "{line}");

    // --json after the subcommand or before it: proto3 JSON with the REST names.
    let listed = admin(&dev, &["apis", "list", "--json"]).ok().json();
    assert_eq!(listed["apis"][0]["api_id"], "cli-api");
    assert_eq!(listed["apis"][0]["listen_path"], "/cli/");
    let got = admin(&dev, &["--json", "apis", "get", "cli-api"]).ok().json();
    assert_eq!(
        (got["name"].as_str(), got["upstream_url"].as_str()),
        (Some("CLI API"), Some("http://127.0.0.1:9"))
    );

    let renamed = write_json(
        dir.path(),
        "renamed.json",
        &json!({"api_id": "cli-api", "name": "Renamed",
        "listen_path": "/cli/", "upstream_url": "http://127.0.0.1:9"}),
    );
    let updated = admin(&dev, &["apis", "update", "cli-api", "--file", &renamed]).ok();
    assert_eq!(field(&updated.stdout, "name"), Some("Renamed"));
    assert_eq!(field(&updated.stdout, "auth"), Some("keyless"));
    // An API that takes other APIs' tokens is protected, and shown so.
    let token_auth = write_json(
        dir.path(),
        "token-auth.json",
        &json!({"api_id": "cli-api", "name": "Renamed", "listen_path": "/cli/",
        "upstream_url": "http://127.0.0.1:9", "token_auth": true}),
    );
    let updated = admin(&dev, &["apis", "update", "cli-api", "--file", &token_auth]).ok();
    assert_eq!(field(&updated.stdout, "auth"), Some("token_auth"), "{updated:#?}");
    let list = admin(&dev, &["apis", "list"]).ok();
    let line = row(&list.stdout, "cli-api").unwrap_or_else(|| panic!("no cli-api row: {list:#?}"));
    assert!(line.contains("token_auth") && !line.contains("keyless"), "{line}");

    // Errors: the gRPC code and message on stderr, exit code 1.
    let missing = admin(&dev, &["apis", "get", "nope"]);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains(r#"NotFound: API "nope" not found"#), "{missing:#?}");
    let taken = admin(&dev, &["apis", "create", "--file", &file]);
    assert_eq!(taken.code, 1);
    assert!(taken.stderr.contains("AlreadyExists"), "{taken:#?}");
    let typo = write_json(dir.path(), "typo.json", &json!({"listen": "/x/"}));
    let bad = admin(&dev, &["apis", "create", "--file", &typo]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("unknown field `listen`"), "{bad:#?}");

    // Tyk OAS: export prints the bare document, which update-oas and import-oas take back.
    let exported = admin(&dev, &["apis", "export-oas", "cli-api"]).ok();
    let document: Value = exported.json();
    assert!(document.get("x-tyk-api-gateway").is_some(), "{document}");
    let oas_file = write_json(dir.path(), "oas.json", &document);
    let updated = admin(&dev, &["apis", "update-oas", "cli-api", "--file", &oas_file]).ok();
    assert_eq!(field(&updated.stdout, "listen_path"), Some("/cli/"), "{updated:#?}");

    let deleted = admin(&dev, &["apis", "delete", "cli-api"]).ok();
    assert!(deleted.stdout.contains("cli-api"), "{deleted:#?}");
    assert_eq!(admin(&dev, &["apis", "get", "cli-api"]).code, 1);
    let reimported = admin(&dev, &["apis", "import-oas", "--file", &oas_file]).ok();
    assert_eq!(field(&reimported.stdout, "listen_path"), Some("/cli/"), "{reimported:#?}");
    assert_eq!(field(&reimported.stdout, "auth"), Some("token_auth"), "{reimported:#?}");

    // Tyk Classic export prints the Dashboard's wrapper, which import-classic takes back.
    let exported: Value = admin(&dev, &["apis", "export-classic", "cli-api"]).ok().json();
    assert_eq!(exported["api_definition"]["use_standard_auth"], true, "{exported}");
    let classic_file = write_json(dir.path(), "cli-classic.json", &exported);
    admin(&dev, &["apis", "delete", "cli-api"]).ok();
    let reimported = admin(&dev, &["apis", "import-classic", "--file", &classic_file]).ok();
    assert_eq!(field(&reimported.stdout, "auth"), Some("token_auth"), "{reimported:#?}");
    assert_eq!(field(&reimported.stdout, "warnings[0]"), None, "{reimported:#?}");

    // Tyk Classic, wrapped as the Dashboard takes it; what is lost is said, on both streams.
    let classic = json!({"api_definition": {"api_id": "classic", "name": "Classic", "use_keyless": true,
        "proxy": {"listen_path": "/classic/", "target_url": "http://127.0.0.1:9", "strip_listen_path": true},
        "cache_options": {"enable_cache": true, "cache_all_safe_requests": true}}});
    let file = write_json(dir.path(), "classic.json", &classic);
    let imported = admin(&dev, &["apis", "import-classic", "--file", &file]).ok();
    assert_eq!(field(&imported.stdout, "api_id"), Some("classic"), "{imported:#?}");
    assert!(field(&imported.stdout, "warnings[0]").is_some_and(|w| w.contains("cach")), "{imported:#?}");
    assert!(imported.stderr.contains("not imported"), "{imported:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_policies_users_and_tokens_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let dev = DevProcess::start(dir.path());
    let upstream = EchoUpstream::start("echo").await;
    let api = json!({"api_id": "shop", "listen_path": "/shop/", "upstream_url": upstream.url(),
        "oauth": {"allowed_grant_types": ["client_credentials", "password"]}});
    admin(&dev, &["apis", "create", "--file", &write_json(dir.path(), "api.json", &api)]).ok();

    // Policies: create (id printed), list as table and JSON.
    let policy = json!({"id": "gold", "name": "Gold", "rate": 10, "per": 60, "active": true,
        "access_rights": {"shop": {"api_id": "shop", "versions": ["Default"]}}});
    let created = admin(&dev, &["policies", "create", "--file", &write_json(dir.path(), "p.json", &policy)]);
    assert_eq!(created.ok().stdout.trim(), "policy created: gold");
    let list = admin(&dev, &["policies", "list"]).ok();
    let line = row(&list.stdout, "gold").unwrap_or_else(|| panic!("{list:#?}"));
    assert!(line.contains("Gold") && line.contains("10 per 60s") && line.contains("shop"), "{line}");
    assert_eq!(admin(&dev, &["policies", "list", "--json"]).ok().json()["Data"][0]["id"], "gold");

    // A client: its generated secret printed once, with a note on stderr; never by `get`.
    let created = admin(
        &dev,
        &[
            "clients",
            "create",
            "shop",
            "--client-id",
            "app1",
            "--policy-id",
            "gold",
            "--redirect-uri",
            "https://app.example/cb",
            "--description",
            "first app",
        ],
    )
    .ok();
    let secret = field(&created.stdout, "secret").unwrap_or_else(|| panic!("{created:#?}")).to_owned();
    assert_eq!(secret.len(), 43, "256 bits in base64url: {secret}");
    assert!(created.stderr.contains("shown only this once"), "{created:#?}");
    let got = admin(&dev, &["clients", "get", "shop", "app1"]).ok();
    assert_eq!(field(&got.stdout, "description"), Some("first app"));
    assert!(field(&got.stdout, "secret").is_none() && !got.stdout.contains(&secret), "{got:#?}");
    let list = admin(&dev, &["clients", "list", "shop"]).ok();
    assert!(row(&list.stdout, "app1").is_some_and(|l| l.contains("gold")), "{list:#?}");
    let json_client = admin(&dev, &["clients", "create", "shop", "--json"]).ok().json();
    assert!(json_client["secret"].as_str().is_some_and(|s| s.len() == 43), "{json_client}");

    // The secret works at the gateway; `tokens revoke` (token on stdin) kills the token.
    let http = reqwest::Client::new();
    let token_url = format!("{}/shop/oauth/token", dev.gateway);
    let body: Value = eventually("the gateway knows app1", Duration::from_secs(10), || async {
        let r = client_credentials_token(&http, &token_url, "app1", &secret).await;
        if r.status() == 200 { r.json().await.ok() } else { None }
    })
    .await;
    let token = body["access_token"].as_str().expect("access_token").to_owned();
    let api_url = format!("{}/shop/x", dev.gateway);
    let status = |t: String| {
        let (http, url) = (http.clone(), api_url.clone());
        async move { http.get(url).bearer_auth(t).send().await.map(|r| r.status().as_u16()).ok() }
    };
    assert_eq!(status(token.clone()).await, Some(200));
    let revoked =
        admin_stdin(&dev, &["tokens", "revoke", "app1", "-", "--hint", "access_token"], &token).ok();
    assert_eq!(revoked.stdout.trim(), "access token revoked");
    assert_eq!(status(token.clone()).await, Some(401));
    let unknown = admin(&dev, &["tokens", "revoke", "app1", "not-a-token"]).ok();
    assert_eq!(unknown.stdout.trim(), "no such live token");

    // Rotation prints a new secret; update keeps the fields it was not given.
    let rotated = admin(&dev, &["clients", "rotate-secret", "shop", "app1"]).ok();
    let new_secret = field(&rotated.stdout, "secret").expect("rotated secret").to_owned();
    assert_ne!(new_secret, secret);
    assert!(rotated.stderr.contains("shown only this once"));
    let updated = admin(&dev, &["clients", "update", "shop", "app1", "--description", "renamed"]).ok();
    assert_eq!(field(&updated.stdout, "description"), Some("renamed"));
    assert_eq!(field(&updated.stdout, "redirect_uri"), Some("https://app.example/cb"));
    assert_eq!(field(&updated.stdout, "policy_id"), Some("gold"));

    // A user whose password comes from stdin (the line ending is not part of it).
    let alice = admin_stdin(
        &dev,
        &["users", "create", "alice", "--password-stdin", "--policy-id", "gold"],
        "correct horse battery\n",
    )
    .ok();
    assert_eq!(field(&alice.stdout, "username"), Some("alice"));
    let users = admin(&dev, &["users", "list"]).ok();
    assert!(row(&users.stdout, "alice").is_some_and(|l| l.contains("gold")), "{users:#?}");
    let form = "grant_type=password&username=alice&password=correct%20horse%20battery";
    let r = eventually("the gateway knows alice", Duration::from_secs(10), || async {
        let r = http
            .post(&token_url)
            .basic_auth("app1", Some(&new_secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .ok()?;
        (r.status() == 200).then_some(r)
    })
    .await;
    let token = r.json::<Value>().await.unwrap()["access_token"].as_str().expect("access_token").to_owned();
    assert_eq!(status(token.clone()).await, Some(200));

    // Token listing shows ids in the store, never tokens; revoke-all takes the secret on stdin.
    // The password grant's token is a family ("fam:"); client_credentials tokens may be listed
    // too, in any order.
    let listed = admin(&dev, &["tokens", "list", "shop", "app1"]).ok();
    assert!(row(&listed.stdout, "token").is_some() && !listed.stdout.contains(&token), "{listed:#?}");
    let listed = admin(&dev, &["tokens", "list", "shop", "app1", "--json"]).ok().json();
    let codes: Vec<&str> =
        listed["tokens"].as_array().into_iter().flatten().filter_map(|t| t["code"].as_str()).collect();
    assert!(codes.iter().any(|c| c.starts_with("fam:")), "{listed}");
    let wrong = admin_stdin(&dev, &["tokens", "revoke-all", "app1", "--secret-stdin"], &secret);
    assert_eq!(wrong.code, 1, "the old secret no longer works: {wrong:#?}");
    admin_stdin(&dev, &["tokens", "revoke-all", "app1", "--secret-stdin"], &new_secret).ok();
    assert_eq!(status(token).await, Some(401));

    // No password flag exists, and an empty stdin is refused.
    let no_flag = admin(&dev, &["users", "create", "bob"]);
    assert_ne!(no_flag.code, 0);
    assert!(no_flag.stderr.contains("--password-stdin"), "{no_flag:#?}");
    let empty = admin_stdin(&dev, &["users", "create", "bob", "--password-stdin"], "");
    assert_eq!(empty.code, 1);
    assert!(empty.stderr.contains("no password on stdin"), "{empty:#?}");

    // A policy in use cannot go; once unused it can.
    assert_eq!(admin(&dev, &["policies", "delete", "gold"]).code, 1);
    admin(&dev, &["users", "delete", "alice"]).ok();
    admin(&dev, &["clients", "delete", "shop", "app1"]).ok();
    admin(&dev, &["policies", "delete", "gold"]).ok();
    assert!(row(&admin(&dev, &["policies", "list"]).ok().stdout, "gold").is_none());
    let gone = admin(&dev, &["users", "get", "alice"]);
    assert!(gone.code == 1 && gone.stderr.contains("NotFound"), "{gone:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_list_shows_the_dev_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let dev = DevProcess::start(dir.path());
    let list = eventually("the dev gateway follows the control plane", Duration::from_secs(10), || async {
        let run = admin(&dev, &["gateways", "list"]).ok();
        row(&run.stdout, "dev").is_some().then_some(run)
    })
    .await;
    assert!(list.stdout.starts_with("NODE_ID"), "{list:#?}");
    let json = admin(&dev, &["gateways", "list", "--json"]).ok().json();
    assert_eq!(json["gateways"][0]["node_id"], "dev");
}

#[test]
fn wrong_missing_secret_and_unreachable_control_plane_fail_with_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let dev = DevProcess::start(dir.path());
    let wrong = "w".repeat(40);
    let run = admin_at(&dev.admin, Some(&wrong), &["apis", "list"], None);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("Unauthenticated"), "{run:#?}");
    assert!(run.stdout.is_empty());

    let run = admin_at(&dev.admin, None, &["apis", "list"], None);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("GATEHOUSE_ADMIN_SECRET"), "{run:#?}");

    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let run = admin_at(&nowhere, Some(&dev.secret), &["apis", "list"], None);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains(&format!("cannot reach the control plane at {nowhere}")), "{run:#?}");
}
