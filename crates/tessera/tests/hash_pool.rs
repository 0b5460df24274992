//! Password hashing under cancelled requests, measured from outside the
//! kernel as an operator would: the threads named `tessera-hash` and the
//! process's resident memory (Linux `/proc`), while sign-ins through
//! `Auth::handle` are given up mid-hash.
//!
//! One test in this binary, so no other test's hashing shares the process.

#![cfg(target_os = "linux")]

mod common;

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use http::{Method, StatusCode};
use serde_json::json;
use tessera::password::HASH_THREAD_NAME;

const POOL_SIZE: usize = 2;
const SIGN_INS: usize = 32;
const MIB: u64 = 1024 * 1024;
/// What one scrypt run (N=16384, r=16) allocates.
const SCRYPT_MEMORY: u64 = 32 * MIB;
/// Room for everything else the run allocates (allocator slack, stacks).
const MARGIN: u64 = 32 * MIB;

/// Threads of this process named like hashing threads.
fn hashing_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        // A thread that ends between listing and reading is not counted.
        .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == HASH_THREAD_NAME)
        .count()
}

/// Resident memory of this process, in bytes (`VmRSS`).
fn resident_memory() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

/// The most hashing threads and resident memory seen while it runs.
struct Peaks {
    stop: Arc<AtomicBool>,
    sampler: std::thread::JoinHandle<(usize, u64)>,
}

impl Peaks {
    fn watch() -> Peaks {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::clone(&stop);
        let sampler = std::thread::spawn(move || {
            let (mut threads, mut memory) = (0, 0);
            while !done.load(Ordering::Relaxed) {
                threads = threads.max(hashing_threads());
                memory = memory.max(resident_memory());
                std::thread::sleep(Duration::from_millis(1));
            }
            (threads, memory)
        });
        Peaks { stop, sampler }
    }

    fn finish(self) -> (usize, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.sampler.join().expect("sampler")
    }
}

#[tokio::test]
async fn sign_ins_cancelled_mid_hash_leave_at_most_the_pool_size_hashing() {
    let h = Harness::new(options().hash_threads(NonZeroUsize::new(POOL_SIZE).unwrap()));
    let before = resident_memory();
    let peaks = Peaks::watch();
    // As a client that hangs up: each sign-in for an unknown email is given
    // up 3 ms in, while its hash (tens of milliseconds) runs.
    for i in 0..SIGN_INS {
        let mut client = h.browser();
        let sign_in = client.send(
            Method::POST,
            "/sign-in/email",
            Some(json!({"email": format!("nobody-{i}@example.com"), "password": "password1234"})),
        );
        let given_up = tokio::time::timeout(Duration::from_millis(3), sign_in).await;
        assert!(given_up.is_err(), "sign-in {i} answered within 3 ms");
    }
    // The slots came back: a client that waits gets its answer.
    let answered = h
        .browser()
        .post(
            "/sign-in/email",
            json!({"email": "nobody@example.com", "password": "password1234"}),
        )
        .await;
    assert_eq!(answered.status, StatusCode::UNAUTHORIZED);
    let (threads, memory) = peaks.finish();

    assert!(
        threads <= POOL_SIZE,
        "{threads} hashing threads at once (pool of {POOL_SIZE})"
    );
    let bound = before + POOL_SIZE as u64 * SCRYPT_MEMORY + MARGIN;
    assert!(
        memory <= bound,
        "resident memory peaked at {} MiB (from {} MiB; bound {} MiB)",
        memory / MIB,
        before / MIB,
        bound / MIB
    );
    assert_eq!(hashing_threads(), POOL_SIZE);
}
