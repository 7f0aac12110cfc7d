//! The admin REST API's OpenAPI 3.1 document, written from the same descriptors and
//! `google.api.http` routes that generate the transcoder, so the document cannot describe a
//! route or a field the server does not have.
//!
//! What the document says is what the transcoder does (`src/rest/`):
//! - a request body is the RPC's request message (`body: "*"`) or one field of it; fields not in
//!   the path or the body are query parameters;
//! - messages are proto3 JSON with the proto field names (pbjson), unknown fields refused; 64-bit
//!   integers are written as strings, as proto3 JSON says;
//! - every success is a 200; every error has the Dashboard's `{"Status":"Error",…}` body, or on
//!   the Tyk Gateway API's paths (`/tyk/…`) that API's `{"status":"error",…}`, whose `AdminStatus`
//!   answers also take Tyk's shapes (`src/rest/tyk.rs`).

use std::collections::{BTreeMap, HashMap};

use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use super::Route;

/// The document, pretty-printed, ending in a newline.
pub fn render(pool: &DescriptorPool, routes: &[Route], version: &str) -> Result<String, String> {
    let comments = Comments::from_pool(pool);
    let mut schemas = Schemas { comments: &comments, pending: Vec::new(), done: BTreeMap::new() };
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut operation_ids: HashMap<String, usize> = HashMap::new();
    let mut operations: Vec<Operation> = Vec::new();
    for route in routes {
        let service = pool
            .get_service_by_name(&format!("gatehouse.v1.{}", route.service))
            .ok_or_else(|| format!("service {} not in the descriptor pool", route.service))?;
        let method = service
            .methods()
            .find(|m| m.name() == route.method)
            .ok_or_else(|| format!("{}.{} not in the descriptor pool", route.service, route.method))?;
        let tyk = is_tyk_path(&route.template);
        let base_id = if tyk { format!("{}_tyk", route.method) } else { route.method.clone() };
        let seen = operation_ids.entry(base_id.clone()).or_default();
        *seen += 1;
        let operation_id = if *seen == 1 { base_id } else { format!("{base_id}_{seen}") };

        let input = method.input();
        let path_vars = path_variables(&route.template);
        let mut parameters = Vec::new();
        for var in &path_vars {
            let field =
                input.get_field_by_name(var).ok_or_else(|| format!("{operation_id}: no field {var}"))?;
            let mut param = json!({
                "name": var,
                "in": "path",
                "required": true,
                "schema": schemas.field(&field),
            });
            if route.template.contains(&format!("{{{var}=**}}")) {
                param["description"] = json!(
                    "One or more path segments (an API's listen path, without its slashes at either end)."
                );
            } else if let Some(doc) = comments.of_field(&field) {
                param["description"] = json!(doc);
            }
            parameters.push(param);
        }
        let mut request_body = None;
        match route.body.as_deref() {
            Some("*") => request_body = Some(schemas.message_ref(&input)),
            Some(field) => {
                let field =
                    input.get_field_by_name(field).ok_or_else(|| format!("{operation_id}: no body field"))?;
                request_body = Some(schemas.field(&field));
            }
            None => {
                for field in input.fields() {
                    if path_vars.iter().any(|v| v == field.name()) || !is_query_scalar(&field) {
                        continue;
                    }
                    let mut param =
                        json!({ "name": field.name(), "in": "query", "schema": schemas.field(&field) });
                    if let Some(doc) = comments.of_field(&field) {
                        param["description"] = json!(doc);
                    }
                    parameters.push(param);
                }
            }
        }

        let answer = success_schema(route, &method.output(), tyk, &mut schemas)?;
        let mut ok = json!({
            "description": "The RPC's answer.",
            "content": { "application/json": { "schema": answer } },
        });
        if route.verb != "GET" {
            ok["headers"] = json!({
                "Gatehouse-Revision": { "$ref": "#/components/headers/GatehouseRevision" },
                "Gatehouse-Not-Applied-By": { "$ref": "#/components/headers/GatehouseNotAppliedBy" },
            });
        }
        let error = if tyk { "#/components/responses/TykError" } else { "#/components/responses/Error" };
        let security = if tyk {
            json!([{ "tykAuthorization": [] }, { "adminSecret": [] }])
        } else {
            json!([{ "adminSecret": [] }])
        };
        let mut operation = json!({
            "operationId": operation_id,
            "tags": [route.service],
            "summary": summary(&route.method),
            "parameters": parameters,
            "security": security,
            "responses": { "200": ok, "default": { "$ref": error } },
        });
        if let Some(doc) = comments.of(method.parent_file().name(), method.path()) {
            operation["description"] = json!(doc);
        }
        if let Some(schema) = request_body {
            operation["requestBody"] =
                json!({ "required": true, "content": { "application/json": { "schema": schema } } });
        }
        let path = openapi_path(&route.template);
        let verb = route.verb.to_ascii_lowercase();
        operations.push(Operation {
            id: operation_id,
            path: path.clone(),
            verb: verb.clone(),
            path_vars,
            output: route.response_body.is_none().then(|| method.output()),
            spans_segments: route.template.contains("=**}"),
        });
        let item = paths.entry(path.clone()).or_default();
        if item.insert(verb, operation).is_some() {
            return Err(format!("two routes for {} {path}", route.verb));
        }
    }
    add_links(&mut paths, &operations);
    paths.insert("/api/openapi.json".to_owned(), openapi_path_item());
    while let Some(message) = schemas.pending.pop() {
        schemas.define(&message);
    }

    let mut components_schemas: Map<String, Value> = schemas.done.into_iter().collect();
    components_schemas.extend(envelope_schemas());
    let document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Gatehouse admin API",
            "version": version,
            "description": "The control plane's admin API: the gRPC services of proto/gatehouse/v1 \
                transcoded to REST/JSON by their google.api.http annotations, on the Tyk Dashboard's \
                paths (/api/…) and the Tyk Gateway API's (/tyk/…). Generated by build.rs from those \
                annotations; do not edit. Every call but this document's own needs the admin \
                secret. A write answers once every connected gateway serves it, or after the \
                control plane's --apply-wait, naming the gateways that did not.",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" },
        },
        "servers": [{ "url": "http://127.0.0.1:7070", "description": "gatehouse dev" }],
        "paths": paths,
        "components": {
            "schemas": components_schemas,
            "securitySchemes": {
                "adminSecret": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "The admin secret, bare (as the Tyk Dashboard takes it) or as `Bearer <secret>`. Wrong secrets lock the address out for a while (429 with Retry-After).",
                },
                "tykAuthorization": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "x-tyk-authorization",
                    "description": "The admin secret in the Tyk Gateway API's header.",
                },
            },
            "headers": {
                "GatehouseRevision": {
                    "description": "The configuration revision this write committed.",
                    "schema": { "type": "string", "pattern": "^[0-9]+$" },
                },
                "GatehouseNotAppliedBy": {
                    "description": "Present when the wait for the gateways ran out: the gateways (comma-separated) that did not yet serve this revision.",
                    "schema": { "type": "string" },
                },
            },
            "responses": {
                "Error": {
                    "description": "An error, in the Tyk Dashboard's shape. 400 malformed input, 401 missing or wrong admin secret, 404 unknown route or resource, 405 (with Allow), 409 conflict, 413 body too large, 429 locked out (with Retry-After), 503 storage unavailable.",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/DashboardError" } } },
                },
                "TykError": {
                    "description": "An error, in the Tyk Gateway API's shape; a missing or wrong secret is its 403.",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/TykError" } } },
                },
            },
        },
    });
    let mut text = serde_json::to_string_pretty(&document).map_err(|e| e.to_string())?;
    text.push('\n');
    Ok(text)
}

/// What linking needs of an operation.
struct Operation {
    id: String,
    path: String,
    verb: String,
    path_vars: Vec<String>,
    /// The message a 200 answers with, when it is answered whole.
    output: Option<MessageDescriptor>,
    /// A path variable takes several segments: no answer's field fills it as written.
    spans_segments: bool,
}

/// OpenAPI links from each creating POST to the operations its answer identifies: those whose
/// path variables are all string fields of the answer (`CreateApi`'s `Api` has `api_id`, so it
/// links to `GetApi`, the API's clients, …). Clients and testing tools (schemathesis's stateful
/// phase) follow them to reach real resources instead of guessing identifiers.
fn add_links(paths: &mut BTreeMap<String, Map<String, Value>>, operations: &[Operation]) {
    for from in operations.iter().filter(|o| o.verb == "post") {
        let Some(output) = &from.output else { continue };
        let is_string_field = |name: &str| {
            output.get_field_by_name(name).is_some_and(|f| !f.is_list() && f.kind() == Kind::String)
        };
        let mut links = Map::new();
        for to in operations {
            if to.id == from.id
                || to.spans_segments
                || to.path_vars.is_empty()
                || !to.path_vars.iter().all(|v| is_string_field(v))
            {
                continue;
            }
            let parameters: Map<String, Value> =
                to.path_vars.iter().map(|v| (v.clone(), json!(format!("$response.body#/{v}")))).collect();
            links.insert(to.id.clone(), json!({ "operationId": to.id, "parameters": parameters }));
        }
        if links.is_empty() {
            continue;
        }
        if let Some(ok) = paths.get_mut(&from.path).and_then(|item| item.get_mut(&from.verb)) {
            ok["responses"]["200"]["links"] = Value::Object(links);
        }
    }
}

/// The Tyk Gateway API's conventions apply (the rule of `src/rest/tyk.rs`).
fn is_tyk_path(template: &str) -> bool {
    template.starts_with("/tyk/") || template.contains("/tyk/oauth/")
}

/// `{listen_path=**}` → `{listen_path}`: OpenAPI has no multi-segment variable.
fn openapi_path(template: &str) -> String {
    template.replace("=**}", "}")
}

fn path_variables(template: &str) -> Vec<String> {
    template
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|v| v.trim_end_matches("=**").to_owned())
        .collect()
}

/// A field the transcoder can take from the query string: a singular scalar.
fn is_query_scalar(field: &FieldDescriptor) -> bool {
    !field.is_list() && !field.is_map() && !matches!(field.kind(), Kind::Message(_))
}

/// `CreateClient` → `Create client`.
fn summary(method: &str) -> String {
    let mut out = String::new();
    for (i, c) in method.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn success_schema(
    route: &Route,
    output: &MessageDescriptor,
    tyk: bool,
    schemas: &mut Schemas<'_>,
) -> Result<Value, String> {
    if let Some(field) = &route.response_body {
        let field = output.get_field_by_name(field).ok_or("response_body names no field")?;
        return Ok(schemas.field(&field));
    }
    if tyk && output.name() == "AdminStatus" {
        // `Dialect::answer`: a DELETE names the deleted key when the path gave one.
        return Ok(if route.verb == "DELETE" {
            json!({ "anyOf": [
                { "$ref": "#/components/schemas/TykModifyKeySuccess" },
                { "$ref": "#/components/schemas/TykStatusMessage" },
            ] })
        } else {
            json!({ "$ref": "#/components/schemas/TykStatusMessage" })
        });
    }
    Ok(schemas.message_ref(output))
}

fn openapi_path_item() -> Map<String, Value> {
    let mut item = Map::new();
    item.insert(
        "get".to_owned(),
        json!({
            "operationId": "GetOpenApiDocument",
            "tags": ["Documents"],
            "summary": "This document",
            "security": [],
            "responses": { "200": {
                "description": "The OpenAPI 3.1 document of this API.",
                "content": { "application/json": { "schema": { "type": "object" } } },
            } },
        }),
    );
    item
}

/// The envelopes the REST layer writes around or instead of a message.
fn envelope_schemas() -> Map<String, Value> {
    let mut out = Map::new();
    out.insert(
        "DashboardError".to_owned(),
        json!({
            "type": "object",
            "properties": {
                "Status": { "const": "Error" },
                "Message": { "type": "string" },
                "Meta": {},
            },
            "required": ["Status", "Message"],
        }),
    );
    out.insert(
        "TykError".to_owned(),
        json!({
            "type": "object",
            "properties": { "status": { "const": "error" }, "message": { "type": "string" } },
            "required": ["status", "message"],
        }),
    );
    out.insert(
        "TykStatusMessage".to_owned(),
        json!({
            "type": "object",
            "properties": { "status": { "const": "ok" }, "message": {} },
            "required": ["status"],
            "additionalProperties": false,
        }),
    );
    out.insert(
        "TykModifyKeySuccess".to_owned(),
        json!({
            "type": "object",
            "properties": {
                "key": { "type": "string" },
                "status": { "const": "ok" },
                "action": { "const": "deleted" },
            },
            "required": ["key", "status", "action"],
            "additionalProperties": false,
        }),
    );
    out
}

/// Message schemas, defined once each under `components/schemas`.
struct Schemas<'a> {
    comments: &'a Comments,
    /// Referenced, not yet defined.
    pending: Vec<MessageDescriptor>,
    done: BTreeMap<String, Value>,
}

impl Schemas<'_> {
    fn message_ref(&mut self, message: &MessageDescriptor) -> Value {
        if let Some(schema) = well_known(message) {
            return schema;
        }
        let name = schema_name(message);
        if !self.done.contains_key(&name) && !self.pending.iter().any(|m| m == message) {
            self.pending.push(message.clone());
        }
        json!({ "$ref": format!("#/components/schemas/{name}") })
    }

    fn define(&mut self, message: &MessageDescriptor) {
        let name = schema_name(message);
        if self.done.contains_key(&name) {
            return;
        }
        // Reserve the name first: a message that contains itself refers to it.
        self.done.insert(name.clone(), Value::Null);
        let mut properties = Map::new();
        for field in message.fields() {
            let mut schema = self.field(&field);
            if let Some(doc) = self.comments.of_field(&field) {
                schema = with_description(schema, doc);
            }
            properties.insert(field.name().to_owned(), schema);
        }
        let mut schema = json!({
            "type": "object",
            "properties": properties,
            // pbjson refuses fields the message does not have.
            "additionalProperties": false,
        });
        if let Some(doc) = self.comments.of(message.parent_file().name(), message.path()) {
            schema["description"] = json!(doc);
        }
        self.done.insert(name, schema);
    }

    fn field(&mut self, field: &FieldDescriptor) -> Value {
        if field.is_map() {
            let value = match field.kind() {
                Kind::Message(entry) => self.kind(&entry.map_entry_value_field().kind()),
                _ => json!({}),
            };
            return json!({ "type": "object", "additionalProperties": value });
        }
        let item = self.kind(&field.kind());
        if field.is_list() { json!({ "type": "array", "items": item }) } else { item }
    }

    fn kind(&mut self, kind: &Kind) -> Value {
        match kind {
            Kind::Double | Kind::Float => json!({ "type": "number" }),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                json!({ "type": "integer", "format": "int32", "minimum": i32::MIN, "maximum": i32::MAX })
            }
            Kind::Uint32 | Kind::Fixed32 => {
                json!({ "type": "integer", "minimum": 0, "maximum": u32::MAX })
            }
            // proto3 JSON writes 64-bit integers as strings and reads either form.
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                json!({ "type": ["string", "integer"], "format": "int64", "pattern": "^-?[0-9]{1,18}$" })
            }
            Kind::Uint64 | Kind::Fixed64 => {
                json!({ "type": ["string", "integer"], "minimum": 0, "pattern": "^[0-9]{1,19}$" })
            }
            Kind::Bool => json!({ "type": "boolean" }),
            Kind::String => json!({ "type": "string" }),
            Kind::Bytes => json!({ "type": "string", "contentEncoding": "base64" }),
            Kind::Enum(e) => {
                json!({ "type": "string", "enum": e.values().map(|v| v.name().to_owned()).collect::<Vec<_>>() })
            }
            Kind::Message(m) => self.message_ref(m),
        }
    }
}

/// A `$ref` cannot carry siblings in every tool; wrap it so the description survives.
fn with_description(schema: Value, doc: String) -> Value {
    match schema {
        Value::Object(mut map) if !map.contains_key("$ref") => {
            map.insert("description".to_owned(), json!(doc));
            Value::Object(map)
        }
        other => json!({ "allOf": [other], "description": doc }),
    }
}

fn schema_name(message: &MessageDescriptor) -> String {
    message.full_name().trim_start_matches("gatehouse.v1.").to_owned()
}

/// The proto3 JSON forms of the well-known types the protos use.
fn well_known(message: &MessageDescriptor) -> Option<Value> {
    Some(match message.full_name() {
        "google.protobuf.Struct" => json!({ "type": "object" }),
        "google.protobuf.Value" => json!({}),
        "google.protobuf.ListValue" => json!({ "type": "array" }),
        "google.protobuf.Timestamp" => json!({ "type": "string", "format": "date-time" }),
        "google.protobuf.Duration" => json!({ "type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?s$" }),
        "google.protobuf.Empty" => json!({ "type": "object", "additionalProperties": false }),
        name if name.starts_with("google.protobuf.") => json!({}),
        _ => return None,
    })
}

/// The leading comments of the .proto files, by file and descriptor path.
struct Comments {
    by_path: HashMap<(String, Vec<i32>), String>,
}

impl Comments {
    fn from_pool(pool: &DescriptorPool) -> Self {
        let mut by_path = HashMap::new();
        for file in pool.files() {
            let Some(info) = &file.file_descriptor_proto().source_code_info else { continue };
            for location in &info.location {
                let Some(text) = location.leading_comments.as_deref() else { continue };
                let text = text.lines().map(str::trim).collect::<Vec<_>>().join(" ").trim().to_owned();
                if !text.is_empty() {
                    by_path.insert((file.name().to_owned(), location.path.clone()), text);
                }
            }
        }
        Self { by_path }
    }

    fn of(&self, file: &str, path: &[i32]) -> Option<String> {
        self.by_path.get(&(file.to_owned(), path.to_vec())).cloned()
    }

    fn of_field(&self, field: &FieldDescriptor) -> Option<String> {
        self.of(field.parent_file().name(), field.path())
    }
}
