//! The config file, merged into the command line before clap sees it.
//!
//! One precedence, everywhere: **flag > `GATEHOUSE_*` environment > config file > default**.
//! A file setting is a flag's long name (`drain-delay`, or `drain_delay`) with a TOML value;
//! settings at the top level apply to every role that has them (a file shared by the control
//! plane and the gateways), settings under `[gateway]`, `[control-plane]` or `[dev]` to that
//! role only:
//!
//! ```toml
//! redis = "redis://redis:6379"
//! node-secret = "…"
//!
//! [gateway]
//! listen = "0.0.0.0:8080"
//! session-cache = true
//! ```
//!
//! The file is turned into flags inserted right after the role; when clap then rejects one of
//! them, [`Expanded::explain`] reports it as the file's `gateway.drain-delay`, not as a flag
//! the operator never typed. A setting is left out when its flag is on the command line or its
//! environment variable is set, which gives the precedence above without clap having to know
//! about files. Because every flag is a setting, new flags need no code here.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Command;
use clap::error::ContextKind;

/// The flag naming the file (also `GATEHOUSE_CONFIG`).
pub const CONFIG_FLAG: &str = "config";
pub const CONFIG_ENV: &str = "GATEHOUSE_CONFIG";
/// Flags about the configuration itself, never settings.
const NOT_SETTINGS: [&str; 4] = [CONFIG_FLAG, "print-config", "help", "version"];
/// Roles that read a config file: the admin CLI is a client and takes flags only.
const SERVER_ROLES: [&str; 3] = ["control-plane", "gateway", "dev"];

/// The command line with the config file's settings merged in.
#[derive(Debug, Default)]
pub struct Expanded {
    pub args: Vec<OsString>,
    /// The file, when one was read.
    pub path: Option<PathBuf>,
    /// Argument id → the file's name for the setting (`gateway.drain-delay`), for each argument
    /// whose value came from the file.
    pub from_file: BTreeMap<String, String>,
}

impl Expanded {
    /// A message naming the file's setting, when clap rejected a value that came from the file.
    pub fn explain(&self, error: &clap::Error) -> Option<String> {
        let path = self.path.as_ref()?;
        let Some(clap::error::ContextValue::String(arg)) = error.get(ContextKind::InvalidArg) else {
            return None;
        };
        // clap names the argument as `--drain-delay <DRAIN_DELAY>`.
        let long = arg.strip_prefix("--")?.split([' ', '=']).next()?;
        let setting = self.from_file.iter().find(|(id, _)| id.replace('_', "-") == long)?.1;
        let rendered = error.to_string();
        let reason = rendered.lines().next().unwrap_or_default().trim_start_matches("error: ");
        Some(format!("config file {}: setting {setting}: {reason}", path.display()))
    }
}

/// Merges the config file named by `--config` (or `GATEHOUSE_CONFIG`) into `args`.
/// `env` reads an environment variable (the process environment outside tests).
pub fn expand(
    command: &Command,
    args: Vec<OsString>,
    env: impl Fn(&str) -> Option<OsString>,
) -> anyhow::Result<Expanded> {
    let unchanged = |args| Ok(Expanded { args, ..Expanded::default() });
    let Some(role_at) = role_position(command, &args) else { return unchanged(args) };
    let role = args[role_at].to_string_lossy().into_owned();
    if !SERVER_ROLES.contains(&role.as_str()) {
        return unchanged(args);
    }
    let Some(path) = config_path(&args).or_else(|| env(CONFIG_ENV)) else { return unchanged(args) };
    let path = Path::new(&path);
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("config file {}: cannot read it", path.display()))?;
    let table: toml::Table =
        text.parse().with_context(|| format!("config file {}: not valid TOML", path.display()))?;

    let mut command = command.clone();
    command.build();
    let Some(role_command) = command.find_subcommand(&role) else { return unchanged(args) };
    let settings =
        settings_for(&command, &table, &role).with_context(|| format!("config file {}", path.display()))?;

    let mut inserted = Vec::new();
    let mut from_file = BTreeMap::new();
    for (qualified, key, value) in settings {
        let Some(arg) = role_command.get_arguments().find(|a| a.get_long() == Some(key.as_str())) else {
            // A top-level setting for another role (checked by `settings_for`).
            continue;
        };
        let on_command_line = args[1..].iter().any(|a| names_flag(a, &key));
        let in_env = arg.get_env().is_some_and(|name| env(&name.to_string_lossy()).is_some());
        if on_command_line || in_env {
            continue;
        }
        let flag = format!("--{key}");
        let takes_value = arg.get_num_args().is_none_or(|n| n.takes_values());
        if !takes_value || is_boolean(arg) {
            let toml::Value::Boolean(on) = value else {
                bail!(bad(path, &qualified, &value, "expected true or false"))
            };
            if takes_value {
                // `--session-cache=false`: an optional value must be attached to its flag.
                inserted.push(OsString::from(format!("{flag}={on}")));
            } else if on {
                inserted.push(OsString::from(&flag));
            }
        } else {
            let values = match value {
                toml::Value::Array(items) => items,
                single => vec![single],
            };
            for item in values {
                let Some(text) = scalar(&item) else {
                    bail!(bad(path, &qualified, &item, "expected a value"))
                };
                inserted.push(OsString::from(&flag));
                inserted.push(OsString::from(text));
            }
        }
        from_file.insert(arg.get_id().to_string(), qualified);
    }
    let mut merged = args;
    merged.splice(role_at + 1..role_at + 1, inserted);
    Ok(Expanded { args: merged, path: Some(path.to_owned()), from_file })
}

/// Every setting that applies to `role`, as (name for messages, flag name, value): the top level
/// first, then the role's section. Unknown settings and sections are errors naming them.
fn settings_for(
    command: &Command,
    table: &toml::Table,
    role: &str,
) -> anyhow::Result<Vec<(String, String, toml::Value)>> {
    let known_anywhere =
        |key: &str| SERVER_ROLES.iter().filter_map(|r| command.find_subcommand(r)).any(|c| has_flag(c, key));
    let (mut settings, mut section_settings) = (Vec::new(), Vec::new());
    for (key, value) in table {
        if let toml::Value::Table(section) = value {
            let section_name = key.replace('_', "-");
            if !SERVER_ROLES.contains(&section_name.as_str()) {
                bail!("unknown section [{key}] (sections: {})", SERVER_ROLES.join(", "));
            }
            if section_name != role {
                continue;
            }
            let Some(role_command) = command.find_subcommand(role) else { continue };
            for (inner, value) in section {
                let flag = inner.replace('_', "-");
                if !has_flag(role_command, &flag) {
                    bail!("unknown setting {section_name}.{inner}");
                }
                section_settings.push((format!("{section_name}.{inner}"), flag, value.clone()));
            }
        } else {
            let flag = key.replace('_', "-");
            if !known_anywhere(&flag) {
                bail!("unknown setting {key}");
            }
            settings.push((key.clone(), flag, value.clone()));
        }
    }
    // Section settings override top-level ones: later flags of the same name win in clap only
    // for some actions, so drop the shadowed top-level entries instead.
    settings.append(&mut section_settings);
    let mut seen = BTreeSet::new();
    let mut deduplicated: Vec<_> =
        settings.into_iter().rev().filter(|(_, flag, _)| seen.insert(flag.clone())).collect();
    deduplicated.reverse();
    Ok(deduplicated)
}

fn has_flag(command: &Command, flag: &str) -> bool {
    !NOT_SETTINGS.contains(&flag) && command.get_arguments().any(|a| a.get_long() == Some(flag))
}

/// The effective configuration of the role that `matches` ran, as a TOML config file with each
/// value's origin in a comment; secrets (flags whose env values clap hides) are masked.
pub fn render(command: &Command, matches: &clap::ArgMatches, expanded: &Expanded) -> String {
    let mut command = command.clone();
    command.build();
    let Some((role, role_matches)) = matches.subcommand() else { return String::new() };
    let Some(role_command) = command.find_subcommand(role) else { return String::new() };
    let mut out = format!(
        "# The effective configuration of `gatehouse {role}`.\n\
         # Precedence: flag > GATEHOUSE_* environment > config file > default.\n[{role}]\n"
    );
    for arg in role_command.get_arguments() {
        let Some(long) = arg.get_long().filter(|long| !NOT_SETTINGS.contains(long)) else { continue };
        let id = arg.get_id().as_str();
        let Some(raw) = role_matches.get_raw(id) else {
            out.push_str(&format!("# {long} is not set\n"));
            continue;
        };
        let origin = match Origin::of(arg, role_matches, expanded) {
            Origin::Env(name) => format!("env {name}"),
            Origin::Default => "default".to_owned(),
            Origin::File(setting) => format!("config file: {setting}"),
            Origin::Flag => "flag".to_owned(),
        };
        let values: Vec<toml::Value> = raw
            .map(|v| match arg.is_hide_env_values_set() {
                true => toml::Value::String("********".into()),
                false => toml_value(&mask_url_password(&v.to_string_lossy())),
            })
            .collect();
        let repeatable = matches!(arg.get_action(), clap::ArgAction::Append)
            || arg.get_num_args().is_some_and(|n| n.max_values() > 1);
        let value = match values.len() {
            1 if !repeatable => values.into_iter().next().unwrap_or(toml::Value::Boolean(false)),
            _ => toml::Value::Array(values),
        };
        out.push_str(&format!("{long} = {value}  # {origin}\n"));
    }
    out
}

/// Where a setting's value came from.
enum Origin {
    Env(String),
    Default,
    /// The config file's name for the setting (`control-plane.admin-secret`).
    File(String),
    Flag,
}

impl Origin {
    fn of(arg: &clap::Arg, role_matches: &clap::ArgMatches, expanded: &Expanded) -> Self {
        use clap::parser::ValueSource;
        let id = arg.get_id().as_str();
        match role_matches.value_source(id) {
            Some(ValueSource::EnvVariable) => {
                Origin::Env(arg.get_env().map(OsStr::to_string_lossy).unwrap_or_default().into_owned())
            }
            Some(ValueSource::DefaultValue) => Origin::Default,
            _ => match expanded.from_file.get(id) {
                Some(setting) => Origin::File(setting.clone()),
                None => Origin::Flag,
            },
        }
    }
}

/// Each setting named as the operator gave it (`--admin-secret`, `GATEHOUSE_ADMIN_SECRET`, or
/// `config file gatehouse.toml: setting control-plane.admin-secret`), for errors about its
/// value found after parsing: a secret that is too short, say, reported under a flag the
/// operator never typed sends them looking in the wrong place.
#[derive(Debug, Clone, Default)]
pub struct SettingNames {
    names: BTreeMap<String, String>,
}

impl SettingNames {
    pub fn of(command: &Command, matches: &clap::ArgMatches, expanded: &Expanded) -> Self {
        let mut command = command.clone();
        command.build();
        let Some((role, role_matches)) = matches.subcommand() else { return Self::default() };
        let Some(role_command) = command.find_subcommand(role) else { return Self::default() };
        let names = role_command
            .get_arguments()
            .filter_map(|arg| {
                let long = arg.get_long()?;
                let name = match Origin::of(arg, role_matches, expanded) {
                    Origin::Env(variable) => variable,
                    Origin::File(setting) => match &expanded.path {
                        Some(path) => format!("config file {}: setting {setting}", path.display()),
                        None => format!("--{long}"),
                    },
                    Origin::Default | Origin::Flag => format!("--{long}"),
                };
                Some((arg.get_id().to_string(), name))
            })
            .collect();
        Self { names }
    }

    /// The name of the setting with argument id `id` (a field name, `admin_secret`); `flag`
    /// when unknown.
    pub fn name(&self, id: &str, flag: &str) -> String {
        self.names.get(id).cloned().unwrap_or_else(|| flag.to_owned())
    }
}

/// `scheme://user:password@host…` with the password masked: Redis URLs carry theirs inline.
pub(crate) fn mask_url_password(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else { return text.to_owned() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else { return text.to_owned() };
    let Some(colon) = rest[..at].find(':') else { return text.to_owned() };
    format!("{scheme}://{}:********{}", &rest[..colon], &rest[at..])
}

/// A flag's text as the TOML value a config file would give: numbers and booleans bare.
fn toml_value(text: &str) -> toml::Value {
    if let Ok(b) = text.parse::<bool>() {
        toml::Value::Boolean(b)
    } else if let Ok(i) = text.parse::<i64>() {
        toml::Value::Integer(i)
    } else if let Ok(f) =
        text.parse::<f64>().map_err(drop).and_then(|f| if f.is_finite() { Ok(f) } else { Err(()) })
    {
        toml::Value::Float(f)
    } else {
        toml::Value::String(text.to_owned())
    }
}

fn bad(path: &Path, setting: &str, value: &toml::Value, why: &str) -> String {
    format!("config file {}: {setting} = {value}: {why}", path.display())
}

/// A TOML scalar as the text a flag would carry.
fn scalar(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Whether `flag` takes `true` or `false` (as `--session-cache=false`, a switch that is on by
/// default): a file gives it as a TOML boolean.
fn is_boolean(flag: &clap::Arg) -> bool {
    let values = flag.get_possible_values();
    values.len() == 2 && values.iter().all(|v| matches!(v.get_name(), "true" | "false"))
}

/// Whether `arg` is `--flag` or `--flag=…`.
fn names_flag(arg: &OsStr, flag: &str) -> bool {
    let arg = arg.to_string_lossy();
    arg.strip_prefix("--")
        .and_then(|rest| rest.strip_prefix(flag))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('='))
}

/// The index of the role (the first positional argument), skipping global flags before it
/// (and the value of those that take one, as `--log-format json`).
fn role_position(command: &Command, args: &[OsString]) -> Option<usize> {
    let takes_value = |long: &str| {
        command.get_arguments().any(|a| {
            a.get_long() == Some(long)
                && a.get_num_args().is_none_or(|n| n.takes_values())
                && !matches!(a.get_action(), clap::ArgAction::SetTrue | clap::ArgAction::SetFalse)
        })
    };
    let mut i = 1;
    while i < args.len() {
        let arg = args[i].to_string_lossy();
        match arg.strip_prefix("--") {
            Some(long) if !long.contains('=') && takes_value(long) => i += 2,
            _ if arg.starts_with('-') => i += 1,
            _ => return Some(i),
        }
    }
    None
}

/// The value of `--config` anywhere on the command line.
fn config_path(args: &[OsString]) -> Option<OsString> {
    let flag = format!("--{CONFIG_FLAG}");
    let mut iter = args.iter().skip(1);
    while let Some(arg) = iter.next() {
        let text = arg.to_string_lossy();
        if text == flag {
            return iter.next().cloned();
        }
        if let Some(value) = text.strip_prefix(&format!("{flag}=")) {
            return Some(OsString::from(value));
        }
    }
    None
}

#[cfg(test)]
mod tests;
