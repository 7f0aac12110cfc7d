//! Client connections of both roles: how many are open, how many were refused at the cap, and
//! how many a read deadline ended. Connections are not the per-request hot path: handles are
//! looked up per event.

/// Which listener a connection came to: `gateway` or `control_plane`.
pub type Role = &'static str;

/// Why a deadline ended a connection or a request:
/// - `header`: the request head did not arrive within `--header-read-timeout` (the connection
///   is closed);
/// - `body`: an OAuth form or admin body did not arrive within `--body-read-timeout`, or a
///   proxied body paused longer than `--request-body-idle-timeout` (408);
/// - `idle`: a keep-alive connection sent nothing for `--keep-alive-timeout` (closed).
pub type TimeoutKind = &'static str;

/// A connection was accepted and is being served; pair with [`closed`].
pub fn opened(role: Role) {
    metrics::gauge!(super::OPEN_CONNECTIONS, "role" => role).increment(1.0);
}

pub fn closed(role: Role) {
    metrics::gauge!(super::OPEN_CONNECTIONS, "role" => role).decrement(1.0);
}

/// A connection was closed as soon as it was accepted: the cap and its probe headroom were full.
pub fn refused(role: Role) {
    metrics::counter!(super::CONNECTIONS_REFUSED, "role" => role).increment(1);
}

pub fn timed_out(role: Role, kind: TimeoutKind) {
    metrics::counter!(super::CONNECTION_TIMEOUTS, "role" => role, "kind" => kind).increment(1);
}
