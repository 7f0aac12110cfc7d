//! `gatehouse admin …` as an operator runs it: the real binary as a child process, the admin
//! secret in its environment, input on stdin.

use std::io::Write as _;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::{DevProcess, binary};

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

/// `gatehouse admin --control-plane <url> args…` with `secret` (if any) in the environment and
/// `stdin` piped in. No output may ever contain the secret.
pub fn admin_at(url: &str, secret: Option<&str>, args: &[&str], stdin: Option<&str>) -> Run {
    admin_with_env(url, secret, args, stdin, &[])
}

/// [`admin_at`] with more environment variables (`secret_env` of `apply -f`).
pub fn admin_with_env(
    url: &str,
    secret: Option<&str>,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> Run {
    let mut command = Command::new(binary());
    command.arg("admin").arg("--control-plane").arg(url).args(args);
    // The test's own environment must not leak into what is tested.
    for var in ["GATEHOUSE_ADMIN_SECRET", "GATEHOUSE_CONTROL_PLANE", "GATEHOUSE_JSON"] {
        command.env_remove(var);
    }
    if let Some(secret) = secret {
        command.env("GATEHOUSE_ADMIN_SECRET", secret);
    }
    command.envs(env.iter().copied());
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    command.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = command.spawn().expect("spawn gatehouse admin");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait for gatehouse admin");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    if let Some(secret) = secret {
        assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret), "secret printed: {run:#?}");
    }
    run
}

pub fn admin(dev: &DevProcess, args: &[&str]) -> Run {
    admin_at(&dev.admin, Some(&dev.secret), args, None)
}

pub fn admin_stdin(dev: &DevProcess, args: &[&str], stdin: &str) -> Run {
    admin_at(&dev.admin, Some(&dev.secret), args, Some(stdin))
}
