//! `gatehouse admin apply -f` and `admin export` against `gatehouse dev`: configuration kept in
//! files, applied in dependency order, idempotent, pruned on request, and an export that
//! rebuilds an empty control plane. Tokens are then requested from the real gateway with the
//! secrets apply set or generated.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::path::Path;

use common::admin::{Run, admin, admin_with_env};
use common::{DevProcess, client_credentials_token};
use serde_json::Value;

const BATCH_SECRET: &str = "batch-client-secret-0123456789abcdef";

fn apply(dev: &DevProcess, args: &[&str]) -> Run {
    let mut all = vec!["apply"];
    all.extend_from_slice(args);
    admin_with_env(&dev.admin, Some(&dev.secret), &all, None, &[("BATCH_SECRET", BATCH_SECRET)])
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir.join(name).parent().unwrap()).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

const APIS: &str = "\
kind: Api
api_id: petstore
name: Petstore
listen_path: /petstore
upstream_url: http://127.0.0.1:9
oauth:
  allowed_grant_types: [client_credentials]
---
# A Tyk OAS definition, as Tyk keeps it: no kind needed.
openapi: 3.0.3
info: {title: Orders, version: 1.0.0}
paths: {}
x-tyk-api-gateway:
  info: {id: orders, name: Orders, state: {active: true}}
  server:
    listenPath: {value: /orders/, strip: true}
    authentication: {enabled: false}
  upstream: {url: 'http://127.0.0.1:9'}
";

const POLICIES: &str = "\
kind: Policy
id: gold
name: Gold
rate: 100
per: 1
access_rights:
  petstore: {versions: [Default]}
";

const CLIENTS: &str = r#"[
  {"kind": "Client", "api_id": "petstore", "client_id": "web", "policy_id": "gold",
   "redirect_uris": ["https://app.example/cb"]},
  {"kind": "Client", "api_id": "petstore", "client_id": "batch", "policy_id": "gold",
   "secret_env": "BATCH_SECRET"}
]"#;

async fn token_status(dev: &DevProcess, client_id: &str, secret: &str) -> u16 {
    let http = reqwest::Client::new();
    let url = format!("{}/petstore/oauth/token", dev.gateway);
    client_credentials_token(&http, &url, client_id, secret).await.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_is_ordered_idempotent_and_prunes_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let dev = DevProcess::start(dir.path());
    let config = dir.path().join("config");
    // Clients sort first by name: apply must still create the API and policy before them.
    write(&config, "a-clients.json", CLIENTS);
    write(&config, "apis/all.yaml", APIS);
    write(&config, "policies.yml", POLICIES);
    write(&config, "notes.txt", "not a document");
    let config = config.display().to_string();

    let dry = apply(&dev, &["-f", &config, "--dry-run"]).ok();
    let lines: Vec<&str> = dry.stdout.lines().collect();
    assert_eq!(
        lines[..5],
        [
            "create api orders",
            "create api petstore",
            "create policy gold",
            "create client petstore/batch",
            "create client petstore/web"
        ],
        "{dry:#?}"
    );
    assert!(dry.stdout.contains("(dry run: nothing was changed)"), "{dry:#?}");
    assert_eq!(admin(&dev, &["apis", "list", "-o", "json"]).ok().json()["apis"], Value::Array(vec![]));

    let applied = apply(&dev, &["-f", &config]).ok();
    assert!(applied.stdout.contains("created client petstore/batch\n"), "{applied:#?}");
    assert!(applied.stdout.ends_with("5 changed, 0 unchanged\n"), "{applied:#?}");
    // The generated secret is shown once, and works; the one from the environment too.
    let web_secret = applied
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("created client petstore/web; its generated secret, shown once: "))
        .expect("the generated secret")
        .to_owned();
    assert_eq!(token_status(&dev, "web", &web_secret).await, 200);
    assert_eq!(token_status(&dev, "batch", BATCH_SECRET).await, 200);
    let orders: Value = admin(&dev, &["apis", "get", "orders", "-o", "json"]).ok().json();
    assert_eq!(orders["listen_path"], "/orders/");

    // Twice is a no-op: the files' `/petstore` is compared in its stored form `/petstore/`.
    let again = apply(&dev, &["-f", &config]).ok();
    assert_eq!(again.stdout, "0 to change, 5 unchanged\n", "{again:#?}");

    // A change names its fields; a new policy says it revokes the client's tokens.
    write(
        Path::new(&config),
        "policies.yml",
        &format!("{POLICIES}---\nkind: Policy\nid: silver\nname: Silver\nrate: 5\nper: 1\n"),
    );
    write(Path::new(&config), "a-clients.json", &CLIENTS.replacen("\"gold\"", "\"silver\"", 1));
    let dry = apply(&dev, &["-f", &config, "--dry-run"]).ok();
    assert!(dry.stdout.contains("create policy silver\n"), "{dry:#?}");
    assert!(
        dry.stdout.contains("update client petstore/web\n    policy_id: \"gold\" → \"silver\"\n"),
        "{dry:#?}"
    );
    assert!(dry.stdout.contains("revokes the client's tokens"), "{dry:#?}");
    apply(&dev, &["-f", &config]).ok();
    let web: Value = admin(&dev, &["clients", "get", "petstore", "web", "-o", "json"]).ok().json();
    assert_eq!(web["policy_id"], "silver");

    // What the files do not name stays, unless --prune.
    write(
        dir.path(),
        "extra.yaml",
        "kind: Api\napi_id: extra\nlisten_path: /extra/\nupstream_url: http://127.0.0.1:9\n",
    );
    apply(&dev, &["-f", &dir.path().join("extra.yaml").display().to_string()]).ok();
    let kept = apply(&dev, &["-f", &config]).ok();
    assert!(kept.stdout.starts_with("0 to change"), "{kept:#?}");
    write(
        Path::new(&config),
        "a-clients.json",
        &CLIENTS.replacen("\"gold\"", "\"silver\"", 1).replace(
            r#",
  {"kind": "Client", "api_id": "petstore", "client_id": "batch", "policy_id": "gold",
   "secret_env": "BATCH_SECRET"}"#,
            "",
        ),
    );
    let pruned = apply(&dev, &["-f", &config, "--prune"]).ok();
    assert!(pruned.stdout.contains("deleted client petstore/batch\n"), "{pruned:#?}");
    assert!(pruned.stdout.contains("deleted api extra (and its clients)\n"), "{pruned:#?}");
    assert_eq!(token_status(&dev, "batch", BATCH_SECRET).await, 401);
    assert_eq!(admin(&dev, &["apis", "get", "extra"]).code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_rebuilds_an_empty_control_plane() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("first")).unwrap();
    std::fs::create_dir_all(dir.path().join("second")).unwrap();
    let first = DevProcess::start(&dir.path().join("first"));
    let config = dir.path().join("config");
    write(&config, "apis.yaml", APIS);
    write(&config, "policies.yaml", POLICIES);
    write(&config, "clients.json", CLIENTS);
    apply(&first, &["-f", &config.display().to_string()]).ok();
    // Settings the files did not make: the export carries them too.
    let inactive = r#"{"id":"gold","name":"Gold","rate":100,"per":1,"active":false}"#;
    write(dir.path(), "inactive.json", inactive);
    admin(
        &first,
        &["policies", "update", "gold", "--file", &dir.path().join("inactive.json").display().to_string()],
    )
    .ok();
    let exported = admin(&first, &["export"]).ok().stdout;
    assert!(!exported.contains(BATCH_SECRET), "{exported}");
    write(dir.path(), "export.yaml", &exported);

    let second = DevProcess::start(&dir.path().join("second"));
    let export_file = dir.path().join("export.yaml").display().to_string();
    let rebuilt = apply(&second, &["-f", &export_file]).ok();
    assert!(rebuilt.stdout.ends_with("5 changed, 0 unchanged\n"), "{rebuilt:#?}");
    assert_eq!(admin(&second, &["export"]).ok().stdout, exported);
    assert_eq!(apply(&second, &["-f", &export_file]).ok().stdout, "0 to change, 5 unchanged\n");
    // JSON export: the same documents, which apply takes as well.
    let json = admin(&second, &["export", "-o", "json"]).ok().json();
    assert_eq!(json.as_array().unwrap().len(), 5);
    assert_eq!(json[0]["kind"], "Api");
    write(dir.path(), "export.json", &json.to_string());
    let from_json = apply(&first, &["-f", &dir.path().join("export.json").display().to_string()]).ok();
    assert_eq!(from_json.stdout, "0 to change, 5 unchanged\n", "{from_json:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_files_fail_before_anything_changes() {
    let dir = tempfile::tempdir().unwrap();
    let dev = DevProcess::start(dir.path());
    let file = |name: &str, text: &str| {
        write(dir.path(), name, text);
        dir.path().join(name).display().to_string()
    };
    let good = "kind: Api\napi_id: ok\nlisten_path: /ok/\nupstream_url: http://127.0.0.1:9\n";
    // Every document is read and checked first: a bad one later in the stream stops the whole
    // apply, so the good one before it is not created either.
    for (text, says) in [
        ("kind: Api\napi_id: x\nlisten: /x/\n", "listen"),
        ("kind: Client\napi_id: ok\nclient_id: c\nsecret: hunter2\n", "secret_env"),
        ("kind: Client\napi_id: nowhere\nclient_id: c\n", "neither the files nor the control plane"),
        ("kind: Client\napi_id: ok\nclient_id: c\nsecret_env: GATEHOUSE_TEST_UNSET_VAR\n", "is not set"),
        ("kind: Api\napi_id: ok\nlisten_path: /again/\nupstream_url: http://127.0.0.1:9\n", "declared twice"),
        ("name: what\n", "no `kind`"),
        ("kind: Api\napi_id: [1\n", "not valid YAML"),
    ] {
        let path = file("bad.yaml", &format!("{good}---\n{text}"));
        let run = apply(&dev, &["-f", &path]);
        assert_eq!(run.code, 1, "{text}: {run:#?}");
        assert!(run.stderr.contains(says), "{text}: {run:#?}");
        assert_eq!(admin(&dev, &["apis", "get", "ok"]).code, 1, "{text}: something was created");
    }

    // A protected API is not made keyless by a file that leaves its authentication out.
    let protected =
        "kind: Api\napi_id: p\nlisten_path: /p/\nupstream_url: http://127.0.0.1:9\ntoken_auth: true\n";
    apply(&dev, &["-f", &file("p.yaml", protected)]).ok();
    let keyless = file("p.yaml", &protected.replace("token_auth: true\n", ""));
    let refused = apply(&dev, &["-f", &keyless]);
    assert_eq!(refused.code, 1, "{refused:#?}");
    assert!(refused.stderr.contains("--allow-keyless"), "{refused:#?}");
    apply(&dev, &["-f", &keyless, "--allow-keyless"]).ok();
    let api: Value = admin(&dev, &["apis", "get", "p", "-o", "json"]).ok().json();
    assert_eq!(api["token_auth"], false);
}

#[test]
fn listings_take_o_yaml_and_completion_scripts_know_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    let dev = DevProcess::start(dir.path());
    write(dir.path(), "p1.json", r#"{"id":"p1","name":"One"}"#);
    admin(&dev, &["policies", "create", "--file", &dir.path().join("p1.json").display().to_string()]).ok();
    let yaml = admin(&dev, &["policies", "list", "-o", "yaml"]).ok().stdout;
    assert!(yaml.contains("- id: p1\n") || yaml.contains("  id: p1\n"), "{yaml}");
    let json = admin(&dev, &["policies", "list", "--json"]).ok().json();
    assert_eq!(json["Data"][0]["id"], "p1");
    let both = admin(&dev, &["policies", "list", "--json", "-o", "yaml"]);
    assert_eq!(both.code, 1, "{both:#?}");

    for shell in ["bash", "zsh", "fish"] {
        let out = std::process::Command::new(common::binary()).args(["completion", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        for word in ["control-plane", "apply", "export", "dry-run", "admin-listen"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    // The bash script completes for real, in bash.
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source <({} completion bash); COMP_WORDS=(gatehouse admin ex); COMP_CWORD=2; \
             _gatehouse gatehouse ex admin; echo \"${{COMPREPLY[@]}}\"",
            common::binary().display()
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "export", "{out:?}");
}
