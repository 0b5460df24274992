//! How much memory a session costs in the kernel's `MemoryDatabase`.
//!
//! Inserts 1,000,000 sessions (or the count given as the first argument)
//! through `Database::create_session` — 32-character token, id and user id,
//! IP `203.0.113.7`, a 110-character user agent — and prints the heap
//! bytes per session, in total and beyond the record's own strings, then
//! where those bytes go.
//!
//! ```text
//! cargo run --release -p memory-footprint [-- SESSIONS]
//! ```
//!
//! Heap bytes are what the program asked the allocator for, counted by
//! [`dhat`] in testing mode (no profile file is written). The process's
//! resident-set growth over a first, unprofiled fill is printed beside them:
//! it adds what `malloc` spends on headers and rounding.

use std::future::Future;
use std::mem::{size_of, size_of_val};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use tessera::store::{Database, MemoryDatabase, Session};
use tessera::{generate_id, Timestamp, ID_LENGTH};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const DEFAULT_SESSIONS: usize = 1_000_000;
const IP_ADDRESS: &str = "203.0.113.7";
const USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/99.0.0.0 Safari/537.36";
const _: () = assert!(USER_AGENT.len() == 110);
/// 2026-11-28T00:00:00.000Z
const T0: i64 = 1_795_824_000_000;

/// The output of a future that never waits, as `MemoryDatabase`'s do; no
/// runtime, so nothing but the database allocates.
fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("MemoryDatabase answers without waiting"),
    }
}

fn session(i: i64) -> Session {
    Session {
        expires_at: Timestamp::from_millis(T0 + i + 604_800_000),
        token: generate_id(ID_LENGTH),
        created_at: Timestamp::from_millis(T0 + i),
        updated_at: Timestamp::from_millis(T0 + i),
        ip_address: Some(IP_ADDRESS.to_owned()),
        user_agent: Some(USER_AGENT.to_owned()),
        user_id: generate_id(ID_LENGTH),
        id: generate_id(ID_LENGTH),
        extra: Default::default(),
    }
}

/// Heap bytes of the strings a stored copy of `s` owns: a cloned `String`
/// allocates exactly its length.
fn string_bytes(s: &Session) -> usize {
    s.token.len()
        + s.id.len()
        + s.user_id.len()
        + s.ip_address.as_ref().map_or(0, String::len)
        + s.user_agent.as_ref().map_or(0, String::len)
}

/// Creates `n` sessions in `db`; the heap bytes of their strings.
fn fill(db: &MemoryDatabase, n: usize) -> usize {
    let mut strings = 0;
    for i in 0..n {
        let s = session(i64::try_from(i).expect("a small count"));
        strings += string_bytes(&s);
        ready(db.create_session(&s)).expect("tokens are unique");
    }
    strings
}

/// The process's resident set in bytes (Linux), `None` elsewhere.
fn resident_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<usize>()
        .ok()?;
    Some(kb * 1024)
}

/// Slots in a hashbrown table holding `items`: a power of two at most 7/8
/// full (hashbrown 0.14, under dashmap 6).
fn hashbrown_buckets(items: usize) -> usize {
    if items < 8 {
        return if items < 4 { 4 } else { 8 };
    }
    (items * 8 / 7).next_power_of_two()
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.replace(['_', ','], "").parse().expect("a session count"))
        .unwrap_or(DEFAULT_SESSIONS);
    let per = |bytes: usize| bytes as f64 / n as f64;

    // First fill: resident-set growth, with malloc's own overhead.
    let rss_before = resident_bytes();
    let db = MemoryDatabase::new();
    fill(&db, n);
    let rss_growth = resident_bytes().zip(rss_before).map(|(a, b)| a - b);
    assert_eq!(db.session_count(), n);
    drop(db);

    // Second fill, profiled: exactly the bytes asked for and still held.
    let _profiler = dhat::Profiler::builder().testing().build();
    let before = dhat::HeapStats::get();
    let db = MemoryDatabase::new();
    let strings = fill(&db, n);
    let after = dhat::HeapStats::get();
    assert_eq!(db.session_count(), n);
    let heap = after.curr_bytes - before.curr_bytes;
    let blocks = after.curr_blocks - before.curr_blocks;
    let beyond = heap - strings;

    println!(
        "MemoryDatabase, {n} sessions (token, id, userId {ID_LENGTH} chars; ip {IP_ADDRESS:?}; user agent {} chars)",
        USER_AGENT.len()
    );
    println!(
        "  heap held:                    {:>7.1} B/session  ({:.2} allocations/session; {:.1} MiB)",
        per(heap),
        blocks as f64 / n as f64,
        heap as f64 / (1024.0 * 1024.0)
    );
    println!(
        "  the records' own strings:     {:>7.1} B/session  (token + id + userId + ip + user agent)",
        per(strings)
    );
    println!(
        "  beyond the strings:           {:>7.1} B/session  (target <= 400)",
        per(beyond)
    );
    match rss_growth {
        Some(rss) => println!(
            "  resident-set growth:          {:>7.1} B/session  (unprofiled fill; malloc headers and rounding included)",
            per(rss)
        ),
        None => println!("  resident-set growth:          n/a (no /proc/self/status)"),
    }

    // Where the bytes beyond the strings go.
    let sample = session(0);
    // The map's value is `Box<Session>`: the slot holds the key and a
    // pointer, the record lives in its own allocation.
    let slot = size_of::<(String, Box<Session>)>();
    let record = size_of::<Session>();
    let shards =
        (std::thread::available_parallelism().map_or(1, usize::from) * 4).next_power_of_two();
    let buckets = shards * hashbrown_buckets(n.div_ceil(shards));
    let table = buckets * (slot + 1);
    let key = ID_LENGTH;
    println!("where the bytes beyond the strings go:");
    println!(
        "  size_of::<Session>() = {} B, of which `extra` (serde_json::Map, empty, no heap) {} B and \
         the five String/Option<String> headers {} B",
        size_of::<Session>(),
        size_of_val(&sample.extra),
        5 * size_of::<String>()
    );
    println!(
        "  DashMap<String, Box<Session>> slot = (key String, Box) = {slot} B + 1 control byte; the record, {record} B, is its own allocation"
    );
    println!(
        "  {shards} shards (dashmap: available_parallelism x 4, rounded to a power of two); \
         ~{} sessions each -> {} slots each (power of two, at most 7/8 full)",
        n.div_ceil(shards),
        hashbrown_buckets(n.div_ceil(shards))
    );
    println!(
        "  => {buckets} slots for {n} sessions ({:.2} slots/session, {:.0}% full): {:.1} B/session",
        buckets as f64 / n as f64,
        100.0 * n as f64 / buckets as f64,
        per(table)
    );
    println!(
        "  + the boxed record {record} B + the key String's heap copy of the token {key} B => model {:.1} B/session, measured {:.1}",
        per(table) + (record + key) as f64,
        per(beyond)
    );
}
