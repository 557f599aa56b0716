//! The store's writer thread asks the operating system for a short time slice, so it is put
//! on a core promptly when it wakes (src/store/writer_scheduling.rs): checked on the running
//! kernel, on both stores, by reading the writer threads' scheduling attributes back.
//!
//! This test file opens its own stores only, so every thread named `store-writer` in the
//! process is one of them.

#![cfg(target_os = "linux")]

mod common;

use common::db::TestDb;
use common::store_fixtures::{new_id, partner};

/// The least slice Linux accepts, which the writer asks for.
const SHORT_SLICE_NANOS: u64 = 100_000;

/// `struct sched_attr`, first version of the layout.
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    sched_policy: u32,
    sched_flags: u64,
    sched_nice: i32,
    sched_priority: u32,
    sched_runtime: u64,
    sched_deadline: u64,
    sched_period: u64,
}

/// Thread `tid`'s (0: the calling thread's) scheduling attributes.
fn attributes(tid: i32) -> SchedAttr {
    let mut attr = SchedAttr::default();
    let size = u32::try_from(std::mem::size_of::<SchedAttr>()).unwrap();
    // SAFETY: `attr` is a writable `sched_attr` of `size` bytes.
    let read = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            tid,
            std::ptr::from_mut(&mut attr),
            size,
            0,
        )
    };
    assert_eq!(
        read,
        0,
        "sched_getattr: {}",
        std::io::Error::last_os_error()
    );
    attr
}

/// The ids of this process's threads named `name`.
fn threads_named(name: &str) -> Vec<i32> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| {
            let task = task.ok()?;
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            if comm.trim_end() == name {
                task.file_name().to_str()?.parse().ok()
            } else {
                None
            }
        })
        .collect()
}

#[tokio::test]
async fn both_stores_writers_run_with_the_short_time_slice_and_the_process_nice_value() {
    // A kernel with per-thread slices (EEVDF, Linux 6.12 and later) reports every ordinary
    // thread's slice; an older one reports none, and the writer's request changes nothing.
    let kernel_has_slices = attributes(0).sched_runtime > 0;
    let nice = attributes(0).sched_nice;

    let sqlite = TestDb::sqlite();
    let postgres = TestDb::postgres().await;
    let stores = [sqlite.open().await, postgres.open().await];
    // A write through each, so each writer thread has started and taken a job.
    for store in &stores {
        store
            .record_read(&partner("welzijn-west"), new_id())
            .await
            .unwrap();
    }

    let writers = threads_named("store-writer");
    assert_eq!(writers.len(), 2, "one writer thread per store: {writers:?}");
    for tid in writers {
        let attr = attributes(tid);
        assert_eq!(attr.sched_policy, libc::SCHED_OTHER as u32);
        assert_eq!(
            attr.sched_nice, nice,
            "the writer keeps the process's nice value"
        );
        if kernel_has_slices {
            assert_eq!(
                attr.sched_runtime, SHORT_SLICE_NANOS,
                "writer thread {tid} runs with the short slice"
            );
        } else {
            eprintln!("this kernel has no per-thread time slices: only the policy is checked");
        }
    }
    for store in stores {
        store.close().await;
    }
}
