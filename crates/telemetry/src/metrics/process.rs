//! The standard `process_*` metrics (as Prometheus's own client libraries name them) and
//! `gatehouse_build_info`, read when scraped.
//!
//! Written as exposition text rather than through the `metrics` facade: they are read from
//! `/proc` at scrape time, not counted as things happen, and the facade has no float counter
//! for `process_cpu_seconds_total`. Where there is no `/proc` (not Linux), only the build info
//! is written.

use std::fmt::Write as _;

/// What `gatehouse_build_info` says about the binary.
#[derive(Debug, Clone, Copy)]
pub struct BuildInfo {
    /// The crate version (`CARGO_PKG_VERSION`).
    pub version: &'static str,
    /// The git commit it was built from, or `unknown`.
    pub commit: &'static str,
}

/// The process and build metrics, as exposition text.
pub fn exposition(build: Option<BuildInfo>) -> String {
    let mut out = String::new();
    if let Some(BuildInfo { version, commit }) = build {
        write_metric(
            &mut out,
            "gatehouse_build_info",
            "gauge",
            "Always 1; the labels say which build is running.",
            &format!("{{version=\"{}\",commit=\"{}\"}}", label(version), label(commit)),
            1.0,
        );
    }
    if let Some(process) = ProcessStats::read() {
        process.write(&mut out);
    }
    out
}

fn write_metric(out: &mut String, name: &str, kind: &str, help: &str, labels: &str, value: f64) {
    // Writing into a String cannot fail.
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{labels} {value}\n");
}

/// A label value as the exposition format wants it: backslash, quote and newline escaped.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// What `/proc/self` tells about this process.
#[derive(Debug, PartialEq)]
struct ProcessStats {
    cpu_seconds: f64,
    resident_bytes: u64,
    virtual_bytes: u64,
    start_time_seconds: f64,
    open_fds: u64,
    max_fds: Option<u64>,
}

impl ProcessStats {
    fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let boot_time = boot_time(&std::fs::read_to_string("/proc/stat").ok()?)?;
        let page_size = u64::try_from(rustix::param::page_size()).ok()?;
        let mut stats = parse_stat(&stat, rustix::param::clock_ticks_per_second(), page_size, boot_time)?;
        stats.open_fds = u64::try_from(std::fs::read_dir("/proc/self/fd").ok()?.count()).ok()?;
        stats.max_fds = std::fs::read_to_string("/proc/self/limits").ok().and_then(|l| max_open_files(&l));
        Some(stats)
    }

    fn write(&self, out: &mut String) {
        write_metric(
            out,
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            "",
            self.cpu_seconds,
        );
        write_metric(
            out,
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            "",
            self.open_fds as f64,
        );
        if let Some(max) = self.max_fds {
            write_metric(
                out,
                "process_max_fds",
                "gauge",
                "Maximum number of open file descriptors.",
                "",
                max as f64,
            );
        }
        write_metric(
            out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            "",
            self.resident_bytes as f64,
        );
        write_metric(
            out,
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            "",
            self.virtual_bytes as f64,
        );
        write_metric(
            out,
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            "",
            self.start_time_seconds,
        );
    }
}

/// Reads `/proc/self/stat` (proc(5)). The command name, field 2, is in parentheses and may hold
/// spaces or parentheses itself, so the fields are counted from the last `)`.
fn parse_stat(stat: &str, ticks_per_second: u64, page_size: u64, boot_time: u64) -> Option<ProcessStats> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Field 3 (state) is the first after the name: field n is at index n - 3.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    let ticks = ticks_per_second.max(1) as f64;
    Some(ProcessStats {
        cpu_seconds: (field(14)? + field(15)?) as f64 / ticks,
        start_time_seconds: boot_time as f64 + field(22)? as f64 / ticks,
        virtual_bytes: field(23)?,
        resident_bytes: field(24)?.saturating_mul(page_size),
        open_fds: 0,
        max_fds: None,
    })
}

/// `btime` of `/proc/stat`: when the machine booted, in unix seconds.
fn boot_time(proc_stat: &str) -> Option<u64> {
    proc_stat.lines().find_map(|line| line.strip_prefix("btime ")?.trim().parse().ok())
}

/// The soft limit of "Max open files" in `/proc/self/limits`; `None` when unlimited.
fn max_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files").split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_end_of_the_name() {
        // A name with a space and a parenthesis, as a thread may be called.
        let stat = "4242 (gh serve) 0) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 9 0 \
                    12000 1073741824 3000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let stats = parse_stat(stat, 100, 4096, 1_700_000_000).unwrap();
        assert_eq!(stats.cpu_seconds, 3.0);
        assert_eq!(stats.start_time_seconds, 1_700_000_120.0);
        assert_eq!(stats.virtual_bytes, 1_073_741_824);
        assert_eq!(stats.resident_bytes, 3000 * 4096);
    }

    #[test]
    fn limits_and_boot_time_are_read_from_their_files() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max cpu time              unlimited            unlimited            seconds   \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(max_open_files(limits), Some(1024));
        assert_eq!(boot_time("cpu  1 2 3\nbtime 1764900000\nprocesses 5\n"), Some(1_764_900_000));
    }

    #[test]
    fn the_exposition_has_build_info_and_this_process() {
        let text = exposition(Some(BuildInfo { version: "1.2.3", commit: "abc\"d" }));
        assert!(text.contains("gatehouse_build_info{version=\"1.2.3\",commit=\"abc\\\"d\"} 1\n"), "{text}");
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(text.contains("# TYPE process_cpu_seconds_total counter\n"), "{text}");
            let resident =
                text.lines().find_map(|l| l.strip_prefix("process_resident_memory_bytes ")).unwrap();
            assert!(resident.parse::<f64>().unwrap() > 1_000_000.0, "{text}");
            assert!(text.contains("process_open_fds "), "{text}");
        }
    }
}
