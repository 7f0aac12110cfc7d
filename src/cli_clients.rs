//! How the control plane reads the OAuth clients admins register (flattened into the control
//! plane's and dev's arguments in `cli.rs`). Each flag reads a `GATEHOUSE_*` variable too.

use gatehouse_control::Settings;

#[derive(clap::Args, Debug, Clone, Default)]
#[command(next_help_heading = "OAuth clients")]
pub struct ClientArgs {
    /// Splits a client's `redirect_uri` into several registered redirect URIs, as Tyk's
    /// `oauth_redirect_uri_separator` does (e.g. ";"), and joins them so when showing it.
    /// Empty (the default, as in Tyk): no splitting; several URIs go in `redirect_uris`.
    #[arg(long, env = "GATEHOUSE_OAUTH_REDIRECT_URI_SEPARATOR", default_value = "")]
    pub oauth_redirect_uri_separator: String,
}

impl ClientArgs {
    pub fn settings(&self) -> Settings {
        Settings { redirect_uri_separator: self.oauth_redirect_uri_separator.clone() }
    }
}
