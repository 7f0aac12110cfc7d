//! wrk (Debian's package) as the closed-loop load generator. A generated Lua script sets the
//! request and prints wrk's own summary as one JSON line, so nothing is scraped from its
//! human-readable output.

use anyhow::Context as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// One request shape for wrk.
pub struct Load<'a> {
    pub addr: SocketAddr,
    pub path: &'a str,
    pub method: &'a str,
    pub headers: Vec<(&'a str, String)>,
    pub body: Option<&'a str>,
    /// A file of bearer tokens, one per line: each request carries the next one (each wrk
    /// thread starting at a random one), instead of a fixed `Authorization` header.
    pub tokens: Option<&'a Path>,
}

/// What one wrk run measured. Latencies in microseconds.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub rps: f64,
    pub requests: u64,
    /// Socket errors and timeouts plus non-2xx/3xx answers.
    pub errors: u64,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
}

const DONE_LUA: &str = r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p99":%d,"p999":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
"#;

/// Reads `token_file` once per wrk thread and sends the tokens in turn.
const TOKENS_LUA: &str = r#"
local tokens = {}
for line in io.lines(token_file) do
  if #line > 0 then tokens[#tokens + 1] = "Bearer " .. line end
end
local next_token = 0
init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16))
  next_token = math.random(#tokens) - 1
end
request = function()
  next_token = (next_token + 1) % #tokens
  wrk.headers["Authorization"] = tokens[next_token + 1]
  return wrk.format()
end
"#;

/// Lua string literal: wrk's scripts are Lua, and values (tokens, bodies) are plain ASCII, but
/// quote them properly anyway.
fn lua_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn run(
    load: &Load<'_>,
    threads: u32,
    connections: u32,
    seconds: u64,
    dir: &Path,
) -> anyhow::Result<Outcome> {
    let mut script = format!("wrk.method = {}\n", lua_string(load.method));
    if let Some(body) = load.body {
        script.push_str(&format!("wrk.body = {}\n", lua_string(body)));
    }
    for (name, value) in &load.headers {
        script.push_str(&format!("wrk.headers[{}] = {}\n", lua_string(name), lua_string(value)));
    }
    if let Some(tokens) = load.tokens {
        let path = tokens.to_str().context("the token file's path is not UTF-8")?;
        script.push_str(&format!("local token_file = {}\n", lua_string(path)));
        script.push_str(TOKENS_LUA);
    }
    script.push_str(DONE_LUA);
    let script_path = dir.join("wrk-script.lua");
    std::fs::write(&script_path, script).context("wrk script")?;
    let output = Command::new("wrk")
        .args(["-t", &threads.to_string(), "-c", &connections.to_string()])
        .args(["-d", &format!("{seconds}s"), "--timeout", "5s", "-s"])
        .arg(&script_path)
        .arg(format!("http://{}{}", load.addr, load.path))
        .output()
        .context("cannot run wrk")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json = stdout.lines().find_map(|line| line.strip_prefix("WRK_JSON ")).ok_or_else(|| {
        anyhow::anyhow!("wrk printed no summary: {stdout} {}", String::from_utf8_lossy(&output.stderr))
    })?;
    let v: Value = serde_json::from_str(json).with_context(|| format!("wrk summary {json}"))?;
    let num = |k: &str| v[k].as_f64().unwrap_or(0.0);
    let requests = num("requests");
    let duration_s = num("duration_us") / 1e6;
    let errors = ["connect", "read", "write", "status", "timeout"].iter().map(|k| num(k)).sum::<f64>();
    Ok(Outcome {
        rps: if duration_s > 0.0 { requests / duration_s } else { 0.0 },
        requests: requests as u64,
        errors: errors as u64,
        p50: num("p50"),
        p99: num("p99"),
        p999: num("p999"),
    })
}
