//! The wall clock as a driver reads it, and what the hub makes of it: the hub reads no clock of
//! its own.

use std::time::Instant;

/// The wall clock, as a driver reads it: a moment and its Unix time. The hub reads no clock of
/// its own; it counts from this (and from what [`Hub::tick`] says).
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    pub at: Instant,
    pub unix_us: u64,
}

impl WallClock {
    /// The system's clock now, for drivers.
    pub fn now() -> WallClock {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        WallClock {
            at: Instant::now(),
            unix_us: since.map_or(0, |d| d.as_micros() as u64),
        }
    }
}
