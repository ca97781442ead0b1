//! The server's memory and threads, read from `/proc/PID/status` (Linux).

/// What the server cost during a run.
#[derive(Debug, Clone, Default)]
pub struct ServerStats {
    /// Before any client connected.
    pub baseline_rss_kib: u64,
    /// Once every client had connected and the room had settled.
    pub connected_rss_kib: u64,
    /// The high-water mark of the run (VmHWM).
    pub peak_rss_kib: u64,
    /// (connected - baseline) / connections.
    pub rss_per_conn_bytes: f64,
    pub threads_baseline: u64,
    pub threads_connected: u64,
    pub threads_peak: u64,
}

/// Fields of `/proc/PID/status`, in KiB or counts.
pub fn status(pid: u32) -> Option<(u64, u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let rest = text.lines().find_map(|l| l.strip_prefix(name))?;
        rest.split_whitespace().next()?.parse().ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?, field("Threads:")?))
}

pub struct Sampler {
    pid: u32,
    stats: ServerStats,
}

impl Sampler {
    pub fn new(pid: u32) -> Sampler {
        let (rss, _, threads) = status(pid).unwrap_or_default();
        Sampler {
            pid,
            stats: ServerStats {
                baseline_rss_kib: rss,
                threads_baseline: threads,
                ..ServerStats::default()
            },
        }
    }

    pub fn sample(&mut self) {
        if let Some((_, hwm, threads)) = status(self.pid) {
            self.stats.peak_rss_kib = self.stats.peak_rss_kib.max(hwm);
            self.stats.threads_peak = self.stats.threads_peak.max(threads);
        }
    }

    /// Call once the clients are connected and quiet.
    pub fn sample_connected(&mut self, connections: usize) {
        if let Some((rss, _, threads)) = status(self.pid) {
            self.stats.connected_rss_kib = rss;
            self.stats.threads_connected = threads;
            let grown = rss.saturating_sub(self.stats.baseline_rss_kib) as f64 * 1024.0;
            self.stats.rss_per_conn_bytes = grown / connections.max(1) as f64;
        }
        self.sample();
    }

    pub fn finish(mut self) -> ServerStats {
        self.sample();
        self.stats
    }
}
