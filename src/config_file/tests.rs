use std::collections::HashMap;
use std::io::Write as _;

use clap::{CommandFactory as _, FromArgMatches as _};

use super::*;
use crate::cli::{Cli, Role};

/// A config file on disk for the test's lifetime.
fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn argv(args: &[&str]) -> Vec<OsString> {
    std::iter::once("gatehouse").chain(args.iter().copied()).map(OsString::from).collect()
}

/// Expands and parses as `main` does, with `env` as the whole environment.
fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<(Cli, clap::ArgMatches, Expanded), String> {
    let env: HashMap<String, OsString> =
        env.iter().map(|(k, v)| (k.to_string(), OsString::from(v))).collect();
    let command = Cli::command();
    let expanded = expand(&command, argv(args), |k| env.get(k).cloned()).map_err(|e| format!("{e:#}"))?;
    // clap reads `env =` values from the process environment, which tests cannot set safely in
    // parallel: pass them as what they override, the command line (precedence is ours anyway).
    let matches = command.try_get_matches_from(&expanded.args).map_err(|e| match expanded.explain(&e) {
        Some(message) => message,
        None => e.to_string(),
    })?;
    let cli = Cli::from_arg_matches(&matches).map_err(|e| e.to_string())?;
    Ok((cli, matches, expanded))
}

fn gateway(cli: Cli) -> crate::cli::GatewayArgs {
    match cli.role {
        Role::Gateway(args) => args,
        _ => panic!("not the gateway role"),
    }
}

const SHARED: &str = r#"
redis = "redis://shared:6379"
node-secret = "s3cret-from-file"
admin_secret = "only-for-the-control-plane"

[gateway]
control-plane = "http://cp:7070"
drain-delay = 2
session-cache = true
redis = "redis://gateway-only:6379"
"#;

#[test]
fn file_settings_apply_to_their_role_and_sections_win_over_the_top_level() {
    let f = file(SHARED);
    let path = f.path().to_str().unwrap();
    let (cli, _, expanded) = parse(&["gateway", "--config", path], &[]).unwrap();
    let args = gateway(cli);
    assert_eq!(args.redis, "redis://gateway-only:6379");
    assert_eq!(args.control_plane, "http://cp:7070");
    assert_eq!(args.drain_delay, 2.0);
    assert!(args.session_cache);
    assert_eq!(expanded.from_file.get("drain_delay").map(String::as_str), Some("gateway.drain-delay"));
}

#[test]
fn flags_beat_the_environment_which_beats_the_file() {
    let f = file(SHARED);
    let path = f.path().to_str().unwrap();
    // The flag is given: the file's value is not even inserted.
    let (cli, _, _) = parse(&["--config", path, "gateway", "--drain-delay=7"], &[]).unwrap();
    assert_eq!(gateway(cli).drain_delay, 7.0);
    // The variable is set: the file's value is left out, so clap's env value stands.
    let expanded = expand(&Cli::command(), argv(&["gateway", "--config", path]), |k| {
        (k == "GATEHOUSE_DRAIN_DELAY").then(|| OsString::from("9"))
    })
    .unwrap();
    assert!(!expanded.args.iter().any(|a| a == "--drain-delay"), "{:?}", expanded.args);
    assert!(expanded.args.iter().any(|a| a == "--control-plane"));
    // The file itself can come from the environment.
    let (cli, _, _) = parse(&["gateway"], &[("GATEHOUSE_CONFIG", path)]).unwrap();
    assert_eq!(gateway(cli).drain_delay, 2.0);
}

#[test]
fn mistakes_name_the_setting() {
    let unknown = file(
        "[gateway]\ncontrol-plane = \"http://cp\"\nredis = \"r\"\nnode-secret = \"s\"\nlisten-port = 1\n",
    );
    let e = parse(&["gateway", "--config", unknown.path().to_str().unwrap()], &[]).map(drop).unwrap_err();
    assert!(e.contains("unknown setting gateway.listen-port"), "{e}");

    let section = file("[gateways]\nlisten = \"x\"\n");
    let e = parse(&["gateway", "--config", section.path().to_str().unwrap()], &[]).map(drop).unwrap_err();
    assert!(e.contains("unknown section [gateways]"), "{e}");

    let top = file("colour = \"blue\"\n");
    let e = parse(&["dev", "--config", top.path().to_str().unwrap()], &[]).map(drop).unwrap_err();
    assert!(e.contains("unknown setting colour"), "{e}");

    let bad = file(
        "[gateway]\ncontrol-plane = \"http://cp\"\nredis = \"r\"\nnode-secret = \"s\"\ndrain-delay = \"soon\"\n",
    );
    let e = parse(&["gateway", "--config", bad.path().to_str().unwrap()], &[]).map(drop).unwrap_err();
    assert!(e.contains("setting gateway.drain-delay") && e.contains("soon"), "{e}");

    let not_bool = file("[gateway]\nsession-cache = \"yes\"\n");
    let e = parse(&["gateway", "--config", not_bool.path().to_str().unwrap()], &[]).map(drop).unwrap_err();
    assert!(e.contains("gateway.session-cache") && e.contains("true or false"), "{e}");

    let broken = file("[gateway\n");
    let e = parse(&["gateway", "--config", broken.path().to_str().unwrap()], &[]).map(drop).unwrap_err();
    assert!(e.contains("not valid TOML"), "{e}");

    let e = parse(&["gateway", "--config", "/nonexistent/gatehouse.toml"], &[]).map(drop).unwrap_err();
    assert!(e.contains("/nonexistent/gatehouse.toml: cannot read it"), "{e}");
}

#[test]
fn the_effective_config_shows_origins_and_masks_secrets() {
    let f = file(SHARED);
    let path = f.path().to_str().unwrap();
    let (_, matches, expanded) = parse(&["gateway", "--config", path, "--node-id", "gw-7"], &[]).unwrap();
    let printed = render(&Cli::command(), &matches, &expanded);
    assert!(printed.contains("[gateway]\n"), "{printed}");
    assert!(printed.contains("node-id = \"gw-7\"  # flag\n"), "{printed}");
    assert!(printed.contains("drain-delay = 2  # config file: gateway.drain-delay\n"), "{printed}");
    assert!(printed.contains("node-secret = \"********\"  # config file: node-secret\n"), "{printed}");
    assert!(printed.contains("drain-timeout = 20  # default\n"), "{printed}");
    assert!(!printed.contains("s3cret-from-file"), "{printed}");
    // What it prints is itself a config file.
    let table: toml::Table = printed.parse().unwrap();
    assert_eq!(table["gateway"]["session-cache"].as_bool(), Some(true));
}

#[test]
fn the_admin_cli_ignores_config_files() {
    let args = argv(&["admin", "--help"]);
    let expanded = expand(&Cli::command(), args.clone(), |_| Some(OsString::from("/nonexistent"))).unwrap();
    assert_eq!(expanded.args, args);
}

#[test]
fn passwords_in_urls_are_masked() {
    assert_eq!(mask_url_password("redis://:pw@redis:6379/0"), "redis://:********@redis:6379/0");
    assert_eq!(mask_url_password("redis://u:p@ss@h"), "redis://u:********@h");
    assert_eq!(mask_url_password("redis://redis:6379"), "redis://redis:6379");
    assert_eq!(mask_url_password("0.0.0.0:8080"), "0.0.0.0:8080");
}

#[test]
fn global_flags_with_values_before_the_role_are_skipped() {
    let f = file(SHARED);
    let path = f.path().to_str().unwrap();
    let (cli, _, _) = parse(&["--log-format", "json", "--config", path, "gateway"], &[]).unwrap();
    assert_eq!(gateway(cli).drain_delay, 2.0);
}

#[test]
fn the_session_cache_is_on_by_default_and_false_turns_it_off() {
    const REQUIRED: [&str; 7] =
        ["gateway", "--control-plane", "http://cp", "--redis", "redis://r", "--node-secret", "s"];
    let with = |extra: &[&str]| {
        let args: Vec<&str> = REQUIRED.iter().chain(extra).copied().collect();
        gateway(parse(&args, &[]).unwrap().0).session_cache
    };
    assert!(with(&[]));
    assert!(with(&["--session-cache"]));
    assert!(with(&["--session-cache=true"]));
    assert!(!with(&["--session-cache=false"]));
    // `false` in a file becomes `--session-cache=false`, not a missing flag that means "on".
    let off = file("[gateway]\nsession-cache = false\n");
    assert!(!with(&["--config", off.path().to_str().unwrap()]));
    let on = file("session-cache = true\n");
    assert!(with(&["--config", on.path().to_str().unwrap()]));
    // The flag beats the file.
    assert!(with(&["--config", off.path().to_str().unwrap(), "--session-cache"]));
}

#[test]
fn limit_leases_are_on_by_default_and_false_turns_them_off() {
    const REQUIRED: [&str; 7] =
        ["gateway", "--control-plane", "http://cp", "--redis", "redis://r", "--node-secret", "s"];
    let with = |extra: &[&str]| {
        let args: Vec<&str> = REQUIRED.iter().chain(extra).copied().collect();
        gateway(parse(&args, &[]).unwrap().0).limit_leases
    };
    assert!(with(&[]));
    assert!(!with(&["--limit-leases=false"]));
    let off = file("[gateway]\nlimit-leases = false\n");
    assert!(!with(&["--config", off.path().to_str().unwrap()]));
}
