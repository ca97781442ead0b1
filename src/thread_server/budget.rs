//! How many client threads threads mode may run, and their starting and counting: a thread is
//! counted before it starts and uncounted when it ends (even by a panic), so the count never
//! passes what the system allows.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Instant;

/// Mappings each thread adds to the process: its stack and guard page, and the alternate
/// signal stack and guard page Rust gives it.
const MAPS_PER_THREAD: usize = 4;

/// The client threads (readers and writers) and their limits.
pub struct Budget {
    /// Client threads running.
    running: Mutex<usize>,
    /// Signalled when a client thread ends.
    ended_one: Condvar,
    /// Client threads ended so far (activity, for returning freed memory).
    ended: AtomicU64,
    /// Each client thread's stack, in bytes.
    stack: usize,
    /// Most client threads at once, readers and writers.
    pub max_threads: usize,
    /// Most reader threads (clients): the rest of `max_threads` is kept for writers.
    pub max_readers: usize,
}

impl Budget {
    /// `max_threads` 0: as many as the system allows (see [`system_thread_limit`]).
    pub fn new(max_threads: usize, stack: usize) -> Budget {
        let max_threads = match max_threads {
            0 => system_thread_limit(),
            n => n,
        };
        Budget {
            running: Mutex::new(0),
            ended_one: Condvar::new(),
            ended: AtomicU64::new(0),
            stack,
            max_threads,
            max_readers: (max_threads - max_threads / 8).max(1),
        }
    }

    fn running(&self) -> MutexGuard<'_, usize> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a thread about to start, if there is room for it under `limit`.
    pub fn reserve(&self, limit: usize) -> bool {
        let mut running = self.running();
        if *running >= limit {
            return false;
        }
        *running += 1;
        true
    }

    /// Uncounts a thread reserved and not started.
    pub fn unreserve(&self) {
        self.done();
    }

    fn done(&self) {
        *self.running() -= 1;
        self.ended.fetch_add(1, Ordering::Relaxed);
        self.ended_one.notify_all();
    }

    /// Client threads ended so far.
    pub fn ended(&self) -> u64 {
        self.ended.load(Ordering::Relaxed)
    }

    /// Starts a client thread (already counted by [`Budget::reserve`]), which uncounts itself
    /// when it ends.
    pub fn spawn(self: &Arc<Self>, name: String, body: impl FnOnce() + Send + 'static) -> bool {
        let budget = Arc::clone(self);
        let started = thread::Builder::new()
            .name(name)
            .stack_size(self.stack)
            .spawn(move || {
                // Uncounted even if `body` panics.
                struct Done(Arc<Budget>);
                impl Drop for Done {
                    fn drop(&mut self) {
                        self.0.done();
                    }
                }
                let _done = Done(budget);
                body();
            });
        match started {
            Ok(_) => true,
            Err(e) => {
                log::warn!("cannot start a thread: {e}");
                self.done();
                false
            }
        }
    }

    /// Waits until no client thread runs, or `until`; returns how many still run.
    pub fn wait_for_all(&self, until: Instant) -> usize {
        let mut running = self.running();
        while *running > 0 {
            let now = Instant::now();
            if now >= until {
                break;
            }
            running = self
                .ended_one
                .wait_timeout(running, until - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        *running
    }
}

/// How many client threads this system lets the process run. Past `vm.max_map_count` no thread
/// starts, and then no allocation that needs a new mapping succeeds either, which aborts the
/// process: so keep an eighth of the mappings for everything else.
fn system_thread_limit() -> usize {
    let read =
        |path: &str| -> Option<usize> { std::fs::read_to_string(path).ok()?.trim().parse().ok() };
    let maps = read("/proc/sys/vm/max_map_count").unwrap_or(65_530);
    let by_maps = (maps - (maps / 8).max(1024).min(maps)) / MAPS_PER_THREAD;
    let by_kernel = read("/proc/sys/kernel/threads-max").map_or(usize::MAX, |n| n / 2);
    let mut nproc = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    let by_rlimit = if unsafe { libc::getrlimit(libc::RLIMIT_NPROC, &mut nproc) } == 0
        && nproc.rlim_cur != libc::RLIM_INFINITY
    {
        (nproc.rlim_cur as usize).saturating_sub(64)
    } else {
        usize::MAX
    };
    by_maps.min(by_kernel).min(by_rlimit).max(2)
}
