//! How the process keeps and returns freed heap memory (glibc's allocator; elsewhere, nothing).
//!
//! Poll mode's loop turns fill an output buffer per recipient (up to 16 MiB in all per turn)
//! and free most of them once written. By default glibc hands the freed top of the heap back to
//! the system at once and faults it in again the next turn: `scripts/profile-poll.sh` measured
//! that as 40% of the server's system time on fan-out. So the server keeps up to
//! [`KEEP_FREED`] of freed heap while busy ([`keep_freed_memory`]), and the poll loop gives it
//! back once it has been quiet for a moment ([`release_freed_memory`]), so that idle
//! connections still cost little.

/// Freed heap kept for reuse while busy: one turn's worth of output.
pub const KEEP_FREED: usize = 16 << 20;

/// Keep up to [`KEEP_FREED`] of freed heap instead of returning it at once. Call before any
/// thread starts.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP_FREED as libc::c_int);
    }
}

/// Return the freed heap to the system now.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
