//! Compiles `proto/` without a system `protoc` and derives the REST routes from the
//! `google.api.http` annotations, so the .proto files are the one source of truth for both the
//! gRPC services and the Tyk-Dashboard-style REST paths.
//!
//! Outputs in `OUT_DIR`:
//! - `gatehouse.v1.rs` (prost messages + tonic services), `gatehouse.v1.serde.rs` (pbjson
//!   proto3-JSON with snake_case names);
//! - `gatehouse_descriptor.bin`, the descriptor set with options kept (for gRPC reflection);
//! - `rest_routes.rs`, the transcoder's route table and dispatch (see `src/rest/`);
//! - `openapi.json`, the REST API's OpenAPI 3.1 document (`build/openapi.rs`), served at
//!   `GET /api/openapi.json` and kept as `docs/openapi.json`.

#[path = "build/openapi.rs"]
mod openapi;

use std::fmt::Write as _;
use std::path::PathBuf;

use prost::Message as _;
use prost_reflect::{DescriptorPool, MethodDescriptor, Value};

const PROTO_FILES: &[&str] = &[
    "gatehouse/v1/types.proto",
    "gatehouse/v1/api.proto",
    "gatehouse/v1/client.proto",
    "gatehouse/v1/config.proto",
    "gatehouse/v1/user.proto",
    "gatehouse/v1/token.proto",
    "gatehouse/v1/policy.proto",
    "gatehouse/v1/gateway.proto",
    "gatehouse/v1/analytics.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rustc-env=GATEHOUSE_COMMIT={}", build_commit());
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    let mut compiler = protox::Compiler::new(["proto"])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(PROTO_FILES)?;
    // `file_descriptor_set()` drops custom options; the encoded form keeps them, and both the
    // JSON codegen and reflection want the full descriptors.
    let descriptor_bytes = compiler.encode_file_descriptor_set();
    std::fs::write(out_dir.join("gatehouse_descriptor.bin"), &descriptor_bytes)?;

    tonic_prost_build::configure()
        // Well-known types come from pbjson-types, which carry proto3-JSON serde impls.
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_fds(prost_types_fds(&descriptor_bytes)?)?;

    pbjson_build::Builder::new()
        .register_descriptors(&descriptor_bytes)?
        .preserve_proto_field_names()
        .emit_fields()
        .extern_path(".google.protobuf", "::pbjson_types")
        .build(&[".gatehouse"])?;

    let routes = collect_routes(&compiler.descriptor_pool())?;
    std::fs::write(out_dir.join("rest_routes.rs"), render_routes(&routes))?;
    println!("cargo:rerun-if-changed=build");
    let version = std::env::var("CARGO_PKG_VERSION")?;
    let document = openapi::render(&compiler.descriptor_pool(), &routes, &version)?;
    std::fs::write(out_dir.join("openapi.json"), document)?;
    Ok(())
}

/// The commit `gatehouse_build_info` names: `GATEHOUSE_BUILD_COMMIT` when the build sets it
/// (an image built without `.git`), else git's HEAD, else `unknown`.
fn build_commit() -> String {
    println!("cargo:rerun-if-env-changed=GATEHOUSE_BUILD_COMMIT");
    // A new commit moves HEAD or the branch it names; either file changing reruns this.
    println!("cargo:rerun-if-changed=.git/HEAD");
    if let Ok(head) = std::fs::read_to_string(".git/HEAD")
        && let Some(reference) = head.trim().strip_prefix("ref: ")
    {
        println!("cargo:rerun-if-changed=.git/{reference}");
    }
    if let Ok(commit) = std::env::var("GATEHOUSE_BUILD_COMMIT")
        && !commit.trim().is_empty()
    {
        return commit.trim().to_owned();
    }
    std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|commit| commit.trim().to_owned())
        .filter(|commit| !commit.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The route's `BodySpec`, as Rust source.
fn body_spec(route: &Route) -> String {
    match &route.body {
        None => "BodySpec::None".to_owned(),
        Some(b) if b == "*" => "BodySpec::Whole".to_owned(),
        Some(b) => format!("BodySpec::Field({b:?})"),
    }
}

fn prost_types_fds(bytes: &[u8]) -> Result<prost_types::FileDescriptorSet, prost::DecodeError> {
    prost_types::FileDescriptorSet::decode(bytes)
}

/// One REST binding of an RPC.
struct Route {
    verb: &'static str,
    template: String,
    /// `None`: fields come from the query string; `Some("*")`: the whole body is the request;
    /// `Some(field)`: the body is that field of the request.
    body: Option<String>,
    /// `response_body`: the REST answer is this field of the response message.
    response_body: Option<String>,
    /// `response_body` names a `google.protobuf.Value`.
    response_body_is_value: bool,
    service: String,
    method: String,
    input_type: String,
    output_type: String,
    /// Top-level bool fields of the request: their query values (`?allow_keyless=true`) become
    /// JSON booleans, which proto3 JSON requires.
    bool_fields: Vec<String>,
    /// Every top-level field of the request, by proto name and JSON name (pbjson takes both):
    /// on a GET, query parameters naming none of them are ignored (see `src/rest/json.rs`).
    fields: Vec<String>,
}

fn collect_routes(pool: &DescriptorPool) -> Result<Vec<Route>, String> {
    let http = pool
        .get_extension_by_name("google.api.http")
        .ok_or("google/api/annotations.proto is not in the descriptor pool")?;
    let mut routes = Vec::new();
    for service in pool.services().filter(|s| s.package_name() == "gatehouse.v1") {
        for method in service.methods() {
            let options = method.options();
            if !options.has_extension(&http) {
                continue; // not an admin RPC (e.g. the config stream)
            }
            let rule = match options.get_extension(&http).as_ref() {
                Value::Message(m) => m.clone(),
                other => return Err(format!("{}: unexpected http option {other:?}", method.full_name())),
            };
            let mut rules = vec![rule.clone()];
            if let Some(extra) = rule.get_field_by_name("additional_bindings")
                && let Value::List(list) = extra.as_ref()
            {
                rules.extend(list.iter().filter_map(|v| v.as_message().cloned()));
            }
            for rule in rules {
                routes.push(route_from_rule(&method, &rule)?);
            }
        }
    }
    Ok(routes)
}

fn route_from_rule(method: &MethodDescriptor, rule: &prost_reflect::DynamicMessage) -> Result<Route, String> {
    let text = |name: &str| {
        rule.get_field_by_name(name).and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
    };
    let (verb, template) =
        [("GET", "get"), ("PUT", "put"), ("POST", "post"), ("DELETE", "delete"), ("PATCH", "patch")]
            .into_iter()
            .find_map(|(verb, field)| rule.has_field_by_name(field).then(|| (verb, text(field))))
            .ok_or_else(|| format!("{}: http rule without a supported verb", method.full_name()))?;
    let input = method.input();
    for segment in template.trim_matches('/').split('/') {
        if let Some(var) = segment.strip_prefix('{') {
            let var = var
                .strip_suffix('}')
                .ok_or_else(|| format!("{}: unsupported path segment {segment:?}", method.full_name()))?;
            // `{name=**}`: one or more whole segments (a listen path); nothing else of the
            // template syntax is supported.
            let var = var.strip_suffix("=**").unwrap_or(var);
            if var.contains(['=', '.', '*']) || input.get_field_by_name(var).is_none() {
                return Err(format!(
                    "{}: path variable {var:?} must name a top-level field",
                    method.full_name()
                ));
            }
        }
    }
    let body = match text("body") {
        b if b.is_empty() => None,
        b if b == "*" => Some(b),
        b if input.get_field_by_name(&b).is_some() => Some(b),
        b => return Err(format!("{}: body field {b:?} does not exist", method.full_name())),
    };
    let response_body = match text("response_body") {
        b if b.is_empty() => None,
        b if method.output().get_field_by_name(&b).is_some() => Some(b),
        b => return Err(format!("{}: response_body field {b:?} does not exist", method.full_name())),
    };
    let response_body_is_value = response_body
        .as_deref()
        .and_then(|b| method.output().get_field_by_name(b))
        .is_some_and(|f| matches!(f.kind(), prost_reflect::Kind::Message(m) if m.full_name() == "google.protobuf.Value"));
    Ok(Route {
        verb,
        template,
        body,
        response_body,
        response_body_is_value,
        service: method.parent_service().name().to_owned(),
        method: method.name().to_owned(),
        input_type: input.name().to_owned(),
        output_type: method.output().name().to_owned(),
        bool_fields: input
            .fields()
            .filter(|f| !f.is_list() && matches!(f.kind(), prost_reflect::Kind::Bool))
            .map(|f| f.name().to_owned())
            .collect(),
        fields: input.fields().flat_map(|f| [f.name().to_owned(), f.json_name().to_owned()]).collect(),
    })
}

fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn render_routes(routes: &[Route]) -> String {
    let mut out =
        String::from("// Generated by build.rs from the google.api.http annotations. Do not edit.\n\n");
    out.push_str(
        "/// Every RPC reachable over REST.\n#[derive(Debug, Clone, Copy, PartialEq, Eq)]\npub enum Rpc {\n",
    );
    let mut seen = Vec::new();
    for r in routes {
        let variant = format!("{}{}", r.service, r.method);
        if !seen.contains(&variant) {
            let _ = writeln!(out, "    {variant},");
            seen.push(variant);
        }
    }
    out.push_str("}\n\n/// The REST bindings, in declaration order.\npub static ROUTES: &[RouteSpec] = &[\n");
    for r in routes {
        let body = body_spec(r);
        let _ = writeln!(
            out,
            "    RouteSpec {{ verb: {:?}, template: {:?}, body: {body}, response_body: {:?}, response_body_is_value: {}, output_type: {:?}, bool_fields: &{:?}, fields: &{:?}, rpc: Rpc::{}{}, rpc_name: \"/gatehouse.v1.{}/{}\" }},",
            r.verb,
            r.template,
            r.response_body.as_deref(),
            r.response_body_is_value,
            r.output_type,
            r.bool_fields,
            r.fields,
            r.service,
            r.method,
            r.service,
            r.method
        );
    }
    out.push_str("];\n\n");
    out.push_str(
        "/// Decodes `input` as the RPC's request, calls the service and encodes its response.\n\
         pub async fn call(services: &AdminServices, rpc: Rpc, input: serde_json::Value, metadata: tonic::metadata::MetadataMap) -> Result<serde_json::Value, RestError> {\n    match rpc {\n",
    );
    let mut done = Vec::new();
    for r in routes {
        let variant = format!("{}{}", r.service, r.method);
        if done.contains(&variant) {
            continue;
        }
        done.push(variant.clone());
        let field = snake_case(&r.service);
        let module = format!("{}_server", snake_case(&r.service));
        let _ = writeln!(
            out,
            "        Rpc::{variant} => {{\n            let message: pb::{input} = decode_input(input, {body})?;\n            let response = pb::{module}::{service}::{method}(&services.{field}, into_request(message, metadata)).await?;\n            encode_output(&response.into_inner())\n        }}",
            input = r.input_type,
            // Bindings of one RPC share its body field, so the first one's serves for errors.
            body = body_spec(r),
            service = r.service,
            method = snake_case(&r.method),
        );
    }
    out.push_str("    }\n}\n");
    out
}
