//! The Kubernetes manifests configure Gatehouse through `GATEHOUSE_*` variables, which clap
//! silently ignores when no flag reads them: a renamed flag would leave a deployment running on
//! a default. Every variable the manifests set must be one that `gatehouse <role> --help` lists.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::collections::BTreeSet;
use std::path::Path;

/// Every `GATEHOUSE_*` name in `text`, outside `#` comments (which may name variables that are
/// not Gatehouse's, such as those Kubernetes' service links would inject).
fn variables(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let mut rest = line.split_once('#').map_or(line, |(code, _)| code);
        while let Some(at) = rest.find("GATEHOUSE_") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(tail.len());
            if end > "GATEHOUSE_".len() {
                found.insert(tail[..end].to_owned());
            }
            rest = &tail[end..];
        }
    }
    found
}

fn yaml_files(dir: &Path, into: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            into.push(path);
        }
    }
}

#[test]
fn every_variable_the_manifests_set_is_a_flag_of_the_binary() {
    // Read from the command definition itself: help text wraps and mixes in prose.
    let mut command = <gatehouse::cli::Cli as clap::CommandFactory>::command();
    command.build();
    let mut known = BTreeSet::new();
    for role in ["control-plane", "gateway"] {
        let sub = command.find_subcommand(role).unwrap();
        known.extend(
            sub.get_arguments().filter_map(|a| a.get_env()).map(|e| e.to_string_lossy().into_owned()),
        );
    }
    assert!(known.contains("GATEHOUSE_REDIS"), "--help lists env names: {known:?}");

    let mut files = Vec::new();
    yaml_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes"), &mut files);
    assert!(!files.is_empty());
    let mut unknown = Vec::new();
    for file in &files {
        for name in variables(&std::fs::read_to_string(file).unwrap()) {
            if !known.contains(&name) {
                unknown.push(format!("{}: {name}", file.display()));
            }
        }
    }
    assert!(unknown.is_empty(), "variables no flag reads:\n{}", unknown.join("\n"));
}
