//! The control plane's metrics. Admin calls are not the hot path: labels are built per call.

/// One admin call answered. `method` is the RPC (`gatehouse.v1.ApiService/CreateApi`), or
/// `unknown` for paths that name none; `code` the gRPC status name or the HTTP status.
pub fn admin_request(protocol: &'static str, method: &'static str, code: &'static str) {
    metrics::counter!(super::ADMIN_REQUESTS, "protocol" => protocol, "method" => method, "code" => code)
        .increment(1);
}

/// A gateway opened (`+1`) or closed (`-1`) its config stream.
pub fn gateway_connected(delta: f64) {
    metrics::gauge!(super::CONNECTED_GATEWAYS).increment(delta);
}

/// The revision the control plane holds after a commit, a catch-up or a reload.
pub fn config_revision(revision: u64) {
    // Revisions stay far below 2^53, where f64 stops being exact.
    metrics::gauge!(super::CONTROL_REVISION).set(revision as f64);
}

/// gRPC status codes by number, as their canonical names.
pub fn grpc_code_name(code: i32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    usize::try_from(code).ok().and_then(|i| NAMES.get(i)).copied().unwrap_or("UNKNOWN")
}

/// HTTP status codes as label values without allocating.
pub fn http_code_name(status: u16) -> &'static str {
    match status {
        200 => "200",
        201 => "201",
        204 => "204",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        409 => "409",
        413 => "413",
        415 => "415",
        429 => "429",
        500 => "500",
        501 => "501",
        502 => "502",
        503 => "503",
        504 => "504",
        _ => super::STATUS_CLASSES[super::status_class(status)],
    }
}
