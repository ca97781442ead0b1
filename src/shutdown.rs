//! Graceful stop: SIGINT and SIGTERM become a byte on a socket, which the poll loop registers
//! like any other source and the threads model waits on in a thread of its own.

use std::io;
use std::os::unix::net::UnixStream;

/// Returns a stream that becomes readable when SIGINT or SIGTERM arrives.
pub fn on_signals() -> io::Result<UnixStream> {
    let (read, write) = UnixStream::pair()?;
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::low_level::pipe::register(signal, write.try_clone()?)?;
    }
    Ok(read)
}

/// Returns a stream that becomes readable when SIGHUP arrives: read the settings again.
pub fn on_reload() -> io::Result<UnixStream> {
    let (read, write) = UnixStream::pair()?;
    signal_hook::low_level::pipe::register(signal_hook::consts::SIGHUP, write)?;
    Ok(read)
}

/// How long a stopping server keeps flushing what its clients have not received yet.
pub const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);
/// How often a stopping server looks for clients whose goodbye has been acknowledged, to let
/// go of them before the drain time ends.
pub const STOP_CHECK: std::time::Duration = std::time::Duration::from_millis(10);
