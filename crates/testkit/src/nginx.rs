//! A private `nginx` per test, as an upstream that normalises request paths the way real
//! deployments do (RFC 3986 dot segments, `%XX` decoding, merged slashes): what path tricks
//! would reach behind a gateway that forwarded them verbatim.

use std::path::Path;
use std::time::Duration;

use crate::process::{ChildProcess, wait_for_port};
use crate::redis::free_port;

/// A running nginx on a loopback port, killed when dropped (with its temp dir).
pub struct NginxServer {
    _process: ChildProcess,
    _dir: tempfile::TempDir,
    port: u16,
}

impl NginxServer {
    /// Starts nginx with one `server` block whose body is `server_body` (`location` blocks and
    /// the like); the `listen` line, pid file, logs and temp paths are filled in.
    pub fn start(server_body: &str) -> Self {
        let dir = tempfile::tempdir().expect("nginx temp dir");
        let port = free_port();
        let d = dir.path().display();
        let conf = format!(
            r#"worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp-body;
    proxy_temp_path {d}/tmp-proxy;
    fastcgi_temp_path {d}/tmp-fastcgi;
    uwsgi_temp_path {d}/tmp-uwsgi;
    scgi_temp_path {d}/tmp-scgi;
    server {{
        listen 127.0.0.1:{port};
        {server_body}
    }}
}}
"#
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("write nginx.conf");
        let args = [
            "-p".to_owned(),
            d.to_string(),
            "-c".to_owned(),
            conf_path.display().to_string(),
            "-e".to_owned(),
            dir.path().join("nginx-error.log").display().to_string(),
            "-g".to_owned(),
            "daemon off;".to_owned(),
        ];
        // Debian installs it in /usr/sbin, which a non-root PATH may lack.
        let sbin = Path::new("/usr/sbin/nginx");
        let program = if sbin.exists() { sbin } else { Path::new("nginx") };
        let process = ChildProcess::spawn("nginx", program, &args, &[], dir.path());
        wait_for_port(port, Duration::from_secs(10));
        Self { _process: process, _dir: dir, port }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}
