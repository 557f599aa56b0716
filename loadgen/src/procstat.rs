//! A process's memory and CPU from `/proc/<pid>` (Linux): peak resident set (`VmHWM` of
//! `/proc/<pid>/status`) and CPU time (user + system of `/proc/<pid>/stat`, in clock ticks of
//! 1/100 s, Linux's `USER_HZ`). Also the machine's load average, recorded with each run.

use std::time::Instant;

use serde::Serialize;

/// Linux's `USER_HZ` (the unit of `/proc/<pid>/stat`'s times) on every mainstream platform.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time used so far by `pid`, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: fields after it.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15; `after` starts at field 3.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// The peak resident set of `pid` so far, in MiB.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    status_kib(pid, "VmHWM:").map(|k| k / 1024.0)
}

fn status_kib(pid: u32, key: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The one-minute load average.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The number of CPUs and the memory of the machine (for the report).
pub fn machine() -> Machine {
    let cpus = std::thread::available_parallelism()
        .map(std::num::NonZero::get)
        .unwrap_or(1);
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0 / 1024.0);
    Machine { cpus, memory_gib }
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub memory_gib: Option<f64>,
}

/// What a process (or a group of them, such as nginx's master and workers) used over a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Usage {
    pub pids: Vec<u32>,
    /// The sum of the processes' peaks.
    pub peak_rss_mib: Option<f64>,
    pub cpu_seconds: Option<f64>,
    /// CPU seconds per second of the run (1.0 is one core busy).
    pub cpu_cores: Option<f64>,
}

/// Measures processes from now on.
pub struct Meter {
    pids: Vec<u32>,
    cpu_start: Option<f64>,
    start: Instant,
}

fn total(pids: &[u32], of: impl Fn(u32) -> Option<f64>) -> Option<f64> {
    pids.iter().map(|p| of(*p)).sum()
}

impl Meter {
    pub fn start(pids: Vec<u32>) -> Self {
        Self {
            cpu_start: total(&pids, cpu_seconds),
            pids,
            start: Instant::now(),
        }
    }

    pub fn stop(&self) -> Usage {
        let cpu = total(&self.pids, cpu_seconds)
            .zip(self.cpu_start)
            .map(|(end, start)| end - start);
        let wall = self.start.elapsed().as_secs_f64();
        Usage {
            pids: self.pids.clone(),
            peak_rss_mib: total(&self.pids, peak_rss_mib),
            cpu_seconds: cpu,
            cpu_cores: cpu.map(|c| c / wall.max(1e-9)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_memory_and_cpu() {
        let me = std::process::id();
        assert!(peak_rss_mib(me).is_some_and(|m| m > 0.0));
        assert!(cpu_seconds(me).is_some());
        assert!(machine().cpus >= 1);
    }
}
