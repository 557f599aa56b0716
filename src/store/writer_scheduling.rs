//! How the operating system schedules the store's writer thread.
//!
//! The single writer is the limit of the full path (BENCHMARKS.md), and it spends much of its
//! time waking up: after each commit's sync, after each answer from PostgreSQL, when a job
//! arrives. On a machine whose cores are all busy (request handling, delivery workers, a
//! database server on the same host), each wake-up also waits for a core: measured at 1,000
//! referrals a second on two cores, the SQLite writer was on a core 48% of the time and
//! waiting for one 28% (`/proc/<pid>/task/<tid>/schedstat`).
//!
//! Linux's scheduler (EEVDF, since 6.6) lets a thread ask for a shorter time slice (since
//! 6.12; no privilege needed): it gets the same share of the processor as before, but an
//! earlier deadline, so when it wakes it is put on a core sooner instead of waiting for the
//! running thread's whole slice. The writer asks for the shortest slice there is; the price
//! is that it is also preempted sooner when it runs longer than that (a large batch), which
//! the measurements in BENCHMARKS.md include. On other systems, or kernels that ignore the
//! request, nothing changes.

/// The slice the writer asks for: the least Linux accepts (`SCHED_SLICE_MIN`, 0.1 ms).
pub(crate) const WRITER_SLICE_NANOS: u64 = 100_000;

/// Asks the operating system to schedule the calling thread with a short time slice
/// ([`WRITER_SLICE_NANOS`]), keeping its policy and nice value. Whether the request was
/// accepted; a refusal is logged at debug level and changes nothing else.
pub(crate) fn prefer_prompt_wakeups() -> bool {
    match imp::set_slice(WRITER_SLICE_NANOS) {
        Ok(()) => true,
        Err(reason) => {
            tracing::debug!(%reason, "the store writer keeps the default time slice");
            false
        }
    }
}

#[cfg(target_os = "linux")]
mod imp {
    /// `struct sched_attr` (include/uapi/linux/sched/types.h), first version of the layout.
    #[repr(C)]
    #[derive(Default)]
    struct SchedAttr {
        size: u32,
        sched_policy: u32,
        sched_flags: u64,
        sched_nice: i32,
        sched_priority: u32,
        /// For `SCHED_OTHER`: the requested slice, in nanoseconds.
        sched_runtime: u64,
        sched_deadline: u64,
        sched_period: u64,
    }

    /// Thread `tid`'s (0: the calling thread's) scheduling attributes.
    fn attributes(tid: i32) -> Result<SchedAttr, String> {
        let mut attr = SchedAttr::default();
        let size = u32::try_from(std::mem::size_of::<SchedAttr>()).unwrap_or(u32::MAX);
        // SAFETY: `attr` is a valid, writable `sched_attr` of `size` bytes; `tid` is a thread
        // of this process (0: the calling thread).
        let read = unsafe {
            libc::syscall(
                libc::SYS_sched_getattr,
                tid,
                std::ptr::from_mut(&mut attr),
                size,
                0,
            )
        };
        if read != 0 {
            return Err(format!(
                "sched_getattr: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(attr)
    }

    /// `SCHED_OTHER` with `slice` as the calling thread's time slice.
    pub(super) fn set_slice(slice: u64) -> Result<(), String> {
        let current = attributes(0)?;
        if current.sched_policy != libc::SCHED_OTHER as u32 {
            // A real-time or batch policy was chosen for the process: leave it as it is.
            return Err(format!("scheduling policy {}", current.sched_policy));
        }
        let wanted = SchedAttr {
            size: u32::try_from(std::mem::size_of::<SchedAttr>()).unwrap_or(u32::MAX),
            sched_policy: current.sched_policy,
            sched_nice: current.sched_nice,
            sched_runtime: slice,
            ..SchedAttr::default()
        };
        // SAFETY: `wanted` is a valid `sched_attr` whose `size` field says how many bytes the
        // kernel may read; pid 0 is the calling thread.
        let set =
            unsafe { libc::syscall(libc::SYS_sched_setattr, 0, std::ptr::from_ref(&wanted), 0) };
        if set != 0 {
            return Err(format!(
                "sched_setattr: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }

    /// The time slice of thread `tid` of this process (0: the calling thread) as the kernel
    /// reports it (0 where it has none).
    #[cfg(test)]
    pub(super) fn slice_of(tid: i32) -> Option<u64> {
        attributes(tid).ok().map(|attr| attr.sched_runtime)
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub(super) fn set_slice(_slice: u64) -> Result<(), String> {
        Err("no per-thread time slices on this system".to_owned())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Whether this kernel keeps a thread's requested slice (EEVDF custom slices, Linux 6.12
    /// and later): asked on a scratch thread, read back.
    fn kernel_keeps_slices() -> bool {
        std::thread::spawn(|| {
            imp::set_slice(WRITER_SLICE_NANOS).is_ok()
                && imp::slice_of(0) == Some(WRITER_SLICE_NANOS)
        })
        .join()
        .unwrap_or(false)
    }

    #[test]
    fn a_thread_that_asks_gets_the_short_slice_and_keeps_its_nice_value() {
        let (slice, nice_before, nice_after) = std::thread::spawn(|| {
            // SAFETY: plain libc calls on the calling thread.
            let before = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
            let raised = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, before + 1) };
            assert_eq!(raised, 0);
            let accepted = prefer_prompt_wakeups();
            let after = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
            (
                accepted.then(|| imp::slice_of(0)).flatten(),
                before + 1,
                after,
            )
        })
        .join()
        .unwrap();
        assert_eq!(nice_after, nice_before, "the nice value is kept");
        if kernel_keeps_slices() {
            assert_eq!(slice, Some(WRITER_SLICE_NANOS));
        }
    }
}
