//! The store measured on its own, without a server or sockets (`chatbench --store-bench DIR`):
//! how many lines a second its writer keeps up with (paced steps, the dropped-lines counter
//! watched), how long a file of a million lines takes to open, and how fast `/history before`
//! and `/search` are answered over it. The server's side of the same work (fan-out with the
//! store against `--store none`) is measured with the load generator itself.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::histogram::Histogram;
use crate::hub::{Ask, Keep, Keeper};
use crate::metrics::METRICS;
use crate::news::Incoming;
use crate::store::{self, StoreConfig};

/// What to measure.
#[derive(Debug, Clone)]
pub struct StoreBench {
    /// A folder for the files (made if missing; its `bench.db` is replaced).
    pub dir: PathBuf,
    /// Lines in the file that is opened and asked.
    pub lines: u64,
    pub rooms: usize,
    /// Writer rates to try, lines a second, each for `step`.
    pub rates: Vec<u64>,
    pub step: Duration,
    /// Questions of each kind.
    pub questions: usize,
}

/// Words the lines are made of, so that a search finds some and not all.
const WORDS: [&str; 16] = [
    "release", "friday", "deploy", "rollback", "coffee", "review", "merge", "flaky", "green",
    "build", "ship", "docs", "bench", "kernel", "socket", "needle",
];

/// A small, fast, deterministic generator (xorshift64*), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A question the benchmark asks: a page before a line, or words (in a room, by its number).
enum Question {
    Before(u64),
    Search(Option<usize>, &'static str),
}

fn config(path: &Path) -> StoreConfig {
    StoreConfig {
        path: path.to_path_buf(),
        sync: Duration::from_millis(50),
        keep_for: None,
        keep_bytes: None,
        history: 50,
        max_rooms: 999,
    }
}

/// Hands the store line `id` (in room `id % rooms`, a chat line of six words).
fn keep(store: &impl Keeper, rng: &mut Rng, id: u64, rooms: usize) {
    let room = format!("room{}", id % rooms as u64);
    let mut text = format!("line {id}");
    for _ in 0..6 {
        text.push(' ');
        text.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
    }
    store.keep(&Keep::Line {
        room: &room,
        id,
        at: 1_700_000_000_000_000 + id * 1000,
        from: "bench",
        me: false,
        text: &text,
    });
}

/// Hands the store `rate` lines a second for `span`, from line `first` on; the next id.
fn paced(
    store: &impl Keeper,
    rng: &mut Rng,
    first: u64,
    rate: u64,
    span: Duration,
    rooms: usize,
) -> u64 {
    let start = Instant::now();
    let total = (rate as f64 * span.as_secs_f64()) as u64;
    let mut id = first;
    // Batches of 1 ms worth, as a loop turn hands them.
    let per_ms = (rate / 1000).max(1);
    while id < first + total {
        let due = start + Duration::from_secs_f64((id - first) as f64 / rate as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        for _ in 0..per_ms.min(first + total - id) {
            keep(store, rng, id, rooms);
            id += 1;
        }
    }
    id
}

fn open(path: &Path) -> Result<(store::Store, mpsc::Receiver<Incoming>), String> {
    let opened = store::open(config(path))?;
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let store = opened
        .start(move |news| {
            let _ = tx.lock().map(|tx| tx.send(news));
        })
        .map_err(|e| format!("cannot start the store: {e}"))?;
    Ok((store, rx))
}

/// Runs every measure; the report, as text.
pub fn run(bench: &StoreBench) -> Result<String, String> {
    std::fs::create_dir_all(&bench.dir).map_err(|e| format!("{}: {e}", bench.dir.display()))?;
    let fresh = |name: &str| {
        let path = bench.dir.join(name);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        path
    };
    let mut report = String::new();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);

    // 1. The writer, at rising rates: does it keep up (nothing dropped, the queue empties)?
    let _ = writeln!(
        report,
        "writer ({} rooms, {:?} a step):",
        bench.rooms, bench.step
    );
    let writer = fresh("writer.db");
    let (store, _) = open(&writer)?;
    let mut id = 1;
    for &rate in &bench.rates {
        let (written0, dropped0, _) = METRICS.store_counts();
        let start = Instant::now();
        let next = paced(&store, &mut rng, id, rate, bench.step, bench.rooms);
        let handed = next - id;
        let handing = start.elapsed();
        id = next;
        // Until the writer has caught up (or gives up: 10 s past the step).
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let (written, dropped, _) = METRICS.store_counts();
            if written - written0 + dropped - dropped0 >= handed || Instant::now() > until {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let took = start.elapsed();
        let (written, dropped, _) = METRICS.store_counts();
        let _ = writeln!(
            report,
            "  {rate:>7} lines/s asked, {:>7.0} handed: {:>7.0} lines/s written, {} dropped, \
             caught up {:.0} ms after",
            handed as f64 / handing.as_secs_f64(),
            (written - written0) as f64 / took.as_secs_f64(),
            dropped - dropped0,
            took.saturating_sub(handing).as_secs_f64() * 1000.0
        );
    }
    store.stop(Duration::from_secs(600));
    let _ = std::fs::remove_file(&writer);

    // 2. A file of `lines` lines, handed at a rate the writer keeps up with.
    let path = fresh("bench.db");
    let (store, _) = open(&path)?;
    let mut id = 1;
    let fill = Instant::now();
    while id <= bench.lines {
        let span = Duration::from_secs_f64(((bench.lines + 1 - id) as f64 / 150_000.0).min(1.0));
        id = paced(
            &store,
            &mut rng,
            id,
            150_000,
            span.max(Duration::from_millis(1)),
            bench.rooms,
        );
    }
    store.stop(Duration::from_secs(600));
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let _ = writeln!(
        report,
        "file: {} lines in {} rooms, {:.0} MB (filled in {:.1} s)",
        id - 1,
        bench.rooms,
        size as f64 / 1e6,
        fill.elapsed().as_secs_f64()
    );

    // 3. Opening it: what a restart reads before serving.
    let mut opens = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let opened = store::open(config(&path))?;
        opens.push(start.elapsed());
        drop(opened);
    }
    opens.sort();
    let _ = writeln!(
        report,
        "open (each room's last 50 lines, topics, bans): median {:.0} ms, max {:.0} ms of 5",
        opens[2].as_secs_f64() * 1000.0,
        opens[4].as_secs_f64() * 1000.0
    );

    // 4. Questions, one at a time, as a client asks them.
    let (store, answers) = open(&path)?;
    let last = id - 1;
    let names: Vec<String> = (0..bench.rooms).map(|r| format!("room{r}")).collect();
    let mut ask = |what: &dyn Fn(&mut Rng) -> Question| -> Result<Histogram, String> {
        let mut took = Histogram::default();
        for serial in 0..bench.questions as u64 {
            let question = what(&mut rng);
            let question = match question {
                Question::Before(before) => Ask::Before {
                    to: 0,
                    serial,
                    room: &names[0],
                    before,
                    n: 50,
                },
                Question::Search(room, words) => Ask::Search {
                    to: 0,
                    serial,
                    room: room.map(|r| names[r].as_str()),
                    words,
                },
            };
            let start = Instant::now();
            if !store.ask(&question) {
                return Err("the store was busy".into());
            }
            match answers.recv_timeout(Duration::from_secs(10)) {
                Ok(Incoming::Page(_) | Incoming::Found(_)) => {}
                Ok(_) => return Err("an answer of another kind".into()),
                Err(_) => return Err("no answer in 10 s".into()),
            }
            took.record(start.elapsed().as_micros() as u64);
        }
        Ok(took)
    };
    let rooms = bench.rooms as u64;
    let pages = ask(&|rng| Question::Before(1 + rng.below(last)))?;
    let everywhere =
        ask(&|rng| Question::Search(None, WORDS[rng.below(WORDS.len() as u64) as usize]))?;
    let in_room = ask(&|rng| {
        let words = if rng.below(2) == 0 {
            "needle socket"
        } else {
            "release friday"
        };
        Question::Search(Some(rng.below(rooms) as usize), words)
    })?;
    store.stop(Duration::from_secs(60));
    let ms = |h: &Histogram, q: f64| h.quantile(q) as f64 / 1000.0;
    for (what, h) in [
        ("/history before ID 50", &pages),
        ("/search WORD (every room)", &everywhere),
        ("/search #ROOM TWO WORDS", &in_room),
    ] {
        let _ = writeln!(
            report,
            "{what:<28} p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} asked)",
            ms(h, 0.5),
            ms(h, 0.99),
            h.max() as f64 / 1000.0,
            h.count()
        );
    }
    Ok(report)
}
