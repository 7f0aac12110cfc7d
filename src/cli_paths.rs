//! How request paths are canonicalised before routing (`gatehouse_gateway::path`), shared by
//! the roles that serve API traffic (flattened into their arguments in `cli.rs`).

use gatehouse_gateway::path::{EscapedSlashes, PathRules};

#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Paths")]
pub struct PathArgs {
    /// What a request path's %2F and %5C (encoded slash and backslash) get: "reject" answers
    /// 400; "keep" forwards them as written, for APIs whose identifiers hold slashes behind
    /// upstreams that do not decode them (still refusing the dot segments they would form and
    /// the listen paths they would cross once decoded). Dot segments are always resolved,
    /// slashes merged, and raw backslashes refused.
    #[arg(long, env = "GATEHOUSE_PATH_ESCAPED_SLASHES", value_enum, default_value_t = EscapedSlashesArg::Reject)]
    pub path_escaped_slashes: EscapedSlashesArg,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscapedSlashesArg {
    Reject,
    Keep,
}

impl PathArgs {
    pub fn rules(&self) -> PathRules {
        let escaped_slashes = match self.path_escaped_slashes {
            EscapedSlashesArg::Reject => EscapedSlashes::Reject,
            EscapedSlashesArg::Keep => EscapedSlashes::Keep,
        };
        PathRules { escaped_slashes }
    }
}
