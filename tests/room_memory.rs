//! What being in 25 rooms costs the chat core, counted by the allocator rather than read from
//! RSS (which also holds what a burst of join notices leaves in the allocator: see
//! docs/benchmarks.md): 1,000 clients reading JSON, each in one room, then each in 24 rooms more
//! of 960 that exist already; the live heap of the hub before and after, per client. Not
//! timed: the count is exact, the same on every run.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::IpAddr;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use chatd::hub::{ClientId, Event, Hub, HubConfig, Line, Outbox};

/// The system allocator, counting the bytes live.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; only a counter is kept.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract is System's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Lines are dropped as they are sent: only the hub's own state stays.
struct Discard;

impl Outbox for Discard {
    fn send(&mut self, _: ClientId, _: &Line) {}
    fn close(&mut self, _: ClientId) {}
}

const CLIENTS: usize = 1000;
const ROOMS: usize = 960;
const EXTRA: usize = 24;

fn line(hub: &mut Hub, id: ClientId, text: &str) {
    hub.handle(Event::Line(id, text.as_bytes()), &mut Discard);
}

#[test]
fn a_client_in_25_rooms_costs_the_hub_less_than_1_kb_more_than_in_one() {
    let mut hub = Hub::new(
        HubConfig {
            max_clients: 10_000,
            max_line: 4096,
            max_per_ip: 0,
            max_connects_per_minute: 0,
            exempt: Vec::new(),
            first_line: None,
            learn_cluster_first: false,
            operators: Vec::new(),
            announce_grace: std::time::Duration::ZERO,
            rate: 0.0,
            burst: 0.0,
            max_rooms: 2000,
            max_rooms_per_client: 25,
            history: 50,
            password: None,
            oper_password: None,
            node: None,
        },
        Instant::now(),
    );
    let ip = IpAddr::from([127, 0, 0, 1]);
    let mut next = 0;
    let mut connect = |hub: &mut Hub| {
        let id = next;
        next += 1;
        hub.handle(Event::Connected(id, ip), &mut Discard);
        line(hub, id, "/format json");
        id
    };
    // The rooms exist first, each held by an anchor in 24 of them.
    for first in (0..ROOMS).step_by(EXTRA) {
        let anchor = connect(&mut hub);
        for k in 0..EXTRA {
            line(&mut hub, anchor, &format!("/join r{}", (first + k) % ROOMS));
        }
    }
    let clients: Vec<ClientId> = (0..CLIENTS)
        .map(|i| {
            let id = connect(&mut hub);
            line(&mut hub, id, &format!("/join b{}", i % 25));
            line(&mut hub, id, "/part lobby");
            id
        })
        .collect();
    hub.end_turn(&mut Discard);
    let before = LIVE.load(Ordering::Relaxed);
    for (i, &id) in clients.iter().enumerate() {
        for k in 0..EXTRA {
            line(&mut hub, id, &format!("/join r{}", (i * EXTRA + k) % ROOMS));
        }
    }
    hub.end_turn(&mut Discard);
    let after = LIVE.load(Ordering::Relaxed);
    let per_client = (after - before) / CLIENTS as isize;
    println!("live heap per client, 25 rooms against 1: {per_client} B");
    assert!(hub.rooms_of(clients[0]).len() == EXTRA + 1);
    assert!(per_client < 1024, "{per_client} B per client");
}
