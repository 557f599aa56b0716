//! The disk under the store: how long it takes to make an append durable. A durable commit
//! (SQLite in WAL mode with `synchronous = FULL`, PostgreSQL's WAL flush) appends to a log
//! and waits for the disk to confirm it, so no intake can be answered faster than this; the
//! run's intake latencies are read against it.
//!
//! Each sample appends `size` bytes to a file of its own in the given folder and times
//! `fdatasync` (what SQLite calls on Linux). The file is removed afterwards.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use crate::measure::{Latency, LatencySummary};

/// What to measure.
#[derive(Clone, Debug)]
pub struct DiskOptions {
    pub label: String,
    /// A folder on the disk the store is on.
    pub dir: PathBuf,
    /// How many appends.
    pub count: u32,
    /// Bytes per append (8 KiB: two 4 KiB pages, a small commit).
    pub size: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct DiskSummary {
    pub label: String,
    pub appends: u32,
    pub bytes_per_append: usize,
    /// From the end of the write to `fdatasync` returning.
    pub sync: LatencySummary,
}

impl DiskSummary {
    pub fn line(&self) -> String {
        format!(
            "{}: {} appends of {} bytes, fdatasync p50 {:.2} p99 {:.2} max {:.1} ms",
            self.label,
            self.appends,
            self.bytes_per_append,
            self.sync.p50_ms,
            self.sync.p99_ms,
            self.sync.max_ms
        )
    }
}

/// Appends and syncs `count` times (blocking: run it before or between runs, not during).
pub fn run(options: &DiskOptions) -> anyhow::Result<DiskSummary> {
    let path = sample_file(&options.dir);
    let result = measure(&path, options);
    let _ = std::fs::remove_file(&path);
    result
}

fn sample_file(dir: &Path) -> PathBuf {
    dir.join(format!("disk-sample-{}.bin", std::process::id()))
}

fn measure(path: &Path, options: &DiskOptions) -> anyhow::Result<DiskSummary> {
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    let block = vec![0x5a_u8; options.size.max(1)];
    let sync = Latency::default();
    for _ in 0..options.count {
        file.write_all(&block)
            .with_context(|| format!("writing {}", path.display()))?;
        let started = Instant::now();
        file.sync_data()
            .with_context(|| format!("syncing {}", path.display()))?;
        sync.record(started.elapsed());
    }
    Ok(DiskSummary {
        label: options.label.clone(),
        appends: options.count,
        bytes_per_append: block.len(),
        sync: sync.summary(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_append_is_timed_and_the_file_is_gone_after() {
        let dir = tempfile::tempdir().unwrap();
        let options = DiskOptions {
            label: "disk".into(),
            dir: dir.path().to_path_buf(),
            count: 20,
            size: 8192,
        };
        let summary = run(&options).unwrap();
        assert_eq!(summary.sync.count, 20);
        assert_eq!(summary.bytes_per_append, 8192);
        assert!(summary.sync.p50_ms <= summary.sync.p99_ms);
        assert!(summary.sync.p99_ms <= summary.sync.max_ms);
        assert!(summary.line().starts_with("disk: 20 appends of 8192 bytes"));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_folder_that_does_not_exist_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let options = DiskOptions {
            label: "disk".into(),
            dir: missing.clone(),
            count: 1,
            size: 10,
        };
        let error = format!("{:#}", run(&options).unwrap_err());
        assert!(error.contains(&missing.display().to_string()), "{error}");
    }
}
