//! Flags protecting authentication against guessing and Argon2id floods, shared by the roles
//! (flattened into their arguments in `cli.rs`). Each reads a `GATEHOUSE_*` variable too.

use std::time::Duration;

use gatehouse_model::storage::FailurePolicy;
use gatehouse_oauth::throttle::DEFAULT_POLICY;

#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Authentication guards")]
pub struct AuthGuardArgs {
    /// Failed authentications (client secret, password, admin secret) per client, username or
    /// source address within --auth-failure-window before requests naming it are refused with
    /// 429 and Retry-After; 0 turns counting off.
    #[arg(long, env = "GATEHOUSE_AUTH_FAILURE_LIMIT", default_value_t = DEFAULT_POLICY.limit)]
    pub auth_failure_limit: u32,
    /// Seconds over which failures are counted, from the first one.
    #[arg(long, env = "GATEHOUSE_AUTH_FAILURE_WINDOW", default_value_t = DEFAULT_POLICY.window.as_secs_f64())]
    pub auth_failure_window: f64,
    /// Seconds of the first lockout; each further failure doubles it.
    #[arg(long, env = "GATEHOUSE_AUTH_LOCKOUT", default_value_t = DEFAULT_POLICY.lockout.as_secs_f64())]
    pub auth_lockout: f64,
    /// Longest lockout, in seconds.
    #[arg(long, env = "GATEHOUSE_AUTH_LOCKOUT_MAX", default_value_t = DEFAULT_POLICY.max_lockout.as_secs_f64())]
    pub auth_lockout_max: f64,
    /// Argon2id verifications (chosen client secrets, passwords) running at once, each holding
    /// 19 MiB; 0: one per serving thread (gateway) or per CPU (control plane, dev).
    #[arg(long, env = "GATEHOUSE_ARGON2_CONCURRENCY", default_value_t = 0)]
    pub argon2_concurrency: usize,
}

impl AuthGuardArgs {
    /// The failure policy the flags describe.
    pub fn policy(&self) -> anyhow::Result<FailurePolicy> {
        let seconds = |flag: &str, value: f64| {
            Duration::try_from_secs_f64(value)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| anyhow::anyhow!("{flag}: {value} is not a positive number of seconds"))
        };
        let policy = FailurePolicy {
            limit: self.auth_failure_limit,
            window: seconds("--auth-failure-window", self.auth_failure_window)?,
            lockout: seconds("--auth-lockout", self.auth_lockout)?,
            max_lockout: seconds("--auth-lockout-max", self.auth_lockout_max)?,
        };
        if policy.max_lockout < policy.lockout {
            anyhow::bail!("--auth-lockout-max must be at least --auth-lockout");
        }
        Ok(policy)
    }

    /// Sets the process-wide policy and Argon2id bound (`default_slots` when the flag is 0);
    /// returns the policy.
    pub fn apply(&self, default_slots: usize) -> anyhow::Result<FailurePolicy> {
        let policy = self.policy()?;
        let slots = match self.argon2_concurrency {
            0 => default_slots,
            n => n,
        };
        gatehouse_oauth::throttle::configure(policy);
        gatehouse_oauth::argon2_pool::configure(slots);
        tracing::info!(
            auth_failure_limit = policy.limit,
            auth_failure_window = ?policy.window,
            argon2_concurrency = slots,
            "authentication guards"
        );
        Ok(policy)
    }
}
