//! Percentiles, medians and the Markdown report.

use anyhow::Context as _;

use crate::RunArgs;
use crate::procs::command_output;

/// The value below which `p` percent of `sorted` lies (nearest rank); 0 for no samples.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    // The epsilon keeps float error (0.999 × 1000 = 999.0000000000001) from moving the rank
    // up by one.
    let rank = ((p / 100.0) * sorted.len() as f64 - 1e-9).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Median of `values` (mean of the middle two for an even count); 0 for none.
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// Microseconds as milliseconds with three decimals.
pub fn ms(us: f64) -> String {
    format!("{:.3}", us / 1000.0)
}

pub struct Report {
    out: String,
    /// Where charts go (`--charts`), as the report links them.
    charts: Option<std::path::PathBuf>,
}

impl Report {
    pub fn new(args: &RunArgs) -> Self {
        let command: Vec<String> = std::env::args().collect();
        let mut out = String::new();
        out.push_str("# gatehouse-bench report\n\n");
        out.push_str(&format!("- command: `{}`\n", command.join(" ")));
        out.push_str(&format!(
            "- closed loop: wrk -t{} -c{} -d{}s, {} interleaved rounds; fixed rate: {} rps for {} s per target per round\n",
            args.threads, args.connections, args.duration, args.rounds, args.rate, args.rate_duration
        ));
        Self { out, charts: args.charts.clone() }
    }

    /// Writes `svg` as `<charts>/<name>.svg` and links it here, when charts were asked for.
    pub fn chart(&mut self, name: &str, alt: &str, svg: impl FnOnce() -> String) -> anyhow::Result<()> {
        let Some(dir) = &self.charts else { return Ok(()) };
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(format!("{name}.svg"));
        std::fs::write(&path, svg()).with_context(|| format!("cannot write {}", path.display()))?;
        self.out.push_str(&format!("![{alt}]({})\n\n", path.display()));
        Ok(())
    }

    pub async fn machine(&mut self) {
        let date = command_output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]);
        let kernel = command_output("uname", &["-sr"]);
        let cpu =
            command_output("sh", &["-c", "lscpu | grep -E '^(Model name|CPU\\(s\\)|Thread|Core|Socket)'"]);
        let mem = command_output("sh", &["-c", "free -h | sed -n 2p"]);
        let versions = command_output(
            "sh",
            &["-c", "(nginx -v 2>&1; redis-server --version; wrk -v 2>&1 | head -1) | tr '\\n' ';'"],
        );
        self.out
            .push_str(&format!("- date: {date}\n- kernel: {kernel}\n- memory: {mem}\n- tools: {versions}\n"));
        self.out.push_str("- cpu:\n");
        for line in cpu.lines() {
            self.out.push_str(&format!("  - {}\n", line.split_whitespace().collect::<Vec<_>>().join(" ")));
        }
        self.out.push('\n');
    }

    pub fn section(&mut self, title: &str) {
        self.out.push_str(&format!("## {title}\n\n"));
        eprintln!("== {title}");
    }

    pub fn line(&mut self, line: &str) {
        self.out.push_str(line);
        self.out.push('\n');
    }

    pub fn print(&self) {
        println!("{}", self.out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&v, 50.0), 500);
        assert_eq!(percentile(&v, 99.0), 990);
        assert_eq!(percentile(&v, 99.9), 999);
        assert_eq!(percentile(&v, 100.0), 1000);
        assert_eq!(percentile(&[], 99.0), 0);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }
}
