//! [`HashPool`]: where password hashing runs, off the async executor. The
//! design is explained in the [`password`](crate::password) module docs.

use std::num::NonZeroUsize;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};

use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

/// The name of every hashing thread, as the operating system shows it
/// (e.g. `/proc/<pid>/task/*/comm` on Linux).
pub const HASH_THREAD_NAME: &str = "tessera-hash";

/// A unit of work as the workers see it: already bound to its slot and to
/// its requester.
type Job = Box<dyn FnOnce() + Send>;

/// Runs password hashing on at most `size` dedicated threads, at most
/// `size` hashes at a time, whatever happens to the requests waiting for
/// them (see the [module docs](crate::password)). Works under any async
/// executor.
///
/// ```
/// use std::num::NonZeroUsize;
/// use tessera::password::{hash_password, HashPool};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = HashPool::new(NonZeroUsize::new(2).unwrap());
/// let hash = pool.run(|| hash_password("correct horse battery")).await.unwrap();
/// assert!(hash.is_ok());
/// assert_eq!(pool.running(), 0);
/// # }
/// ```
#[derive(Debug)]
pub struct HashPool {
    size: usize,
    /// One per job in flight, queued or running; owned by the job.
    slots: Arc<Semaphore>,
    jobs: mpsc::Sender<Job>,
    queue: Arc<Mutex<mpsc::Receiver<Job>>>,
    /// Workers started so far (never more than `size`).
    workers: AtomicUsize,
    counts: Arc<Counts>,
}

/// What the pool reports about its jobs.
#[derive(Debug, Default)]
struct Counts {
    /// Jobs running now.
    running: AtomicUsize,
    /// Jobs that ran to the end.
    completed: AtomicU64,
}

impl Default for HashPool {
    /// One thread per available core ([`std::thread::available_parallelism`]),
    /// two when that is unknown.
    fn default() -> Self {
        const UNKNOWN: NonZeroUsize = NonZeroUsize::new(2).unwrap();
        HashPool::new(std::thread::available_parallelism().unwrap_or(UNKNOWN))
    }
}

impl HashPool {
    /// A pool of at most `size` threads running at most `size` jobs at a
    /// time. No thread starts before the first job.
    pub fn new(size: NonZeroUsize) -> Self {
        let (jobs, queue) = mpsc::channel();
        HashPool {
            size: size.get(),
            slots: Arc::new(Semaphore::new(size.get())),
            jobs,
            queue: Arc::new(Mutex::new(queue)),
            workers: AtomicUsize::new(0),
            counts: Arc::default(),
        }
    }

    /// How many jobs may run at once (and how many threads may exist).
    pub fn size(&self) -> usize {
        self.size
    }

    /// How many jobs are running now (never more than [`size`](Self::size)).
    pub fn running(&self) -> usize {
        self.counts.running.load(Ordering::Relaxed)
    }

    /// How many jobs have run to the end since the pool was made (a job
    /// skipped because its requester left is not counted): for metrics, and
    /// for tests that check how many hashes a request cost.
    pub fn completed(&self) -> u64 {
        self.counts.completed.load(Ordering::Relaxed)
    }

    /// Runs `f` on a hashing thread once a slot is free, and waits for its
    /// result. Dropping the returned future gives up the wait, not the
    /// slot: a job already running keeps its slot until it ends.
    ///
    /// Fails when no hashing thread can be started (the operating system
    /// refuses threads) or when `f` panics.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, std::io::Error> {
        let slot = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|_| std::io::Error::other("hash pool closed"))?;
        self.ensure_worker()?;
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(job(slot, tx, Arc::clone(&self.counts), f))
            .map_err(|_| std::io::Error::other("hash pool closed"))?;
        rx.await
            .map_err(|_| std::io::Error::other("hashing job ended without a result"))
    }

    /// Starts one more worker while there are fewer than `size`: after
    /// `size` jobs the pool has all its threads, and keeps them until it is
    /// dropped. Fails only when no worker exists and none can start.
    fn ensure_worker(&self) -> Result<(), std::io::Error> {
        let reserved = self
            .workers
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.size).then_some(n + 1)
            });
        if reserved.is_err() {
            return Ok(());
        }
        let queue = Arc::clone(&self.queue);
        let spawned = std::thread::Builder::new()
            .name(HASH_THREAD_NAME.to_owned())
            .spawn(move || work(&queue));
        match spawned {
            Ok(_) => Ok(()),
            Err(e) => {
                let left = self.workers.fetch_sub(1, Ordering::AcqRel) - 1;
                if left == 0 {
                    return Err(e);
                }
                tracing::warn!(error = %e, workers = left, "could not start a hashing thread");
                Ok(())
            }
        }
    }
}

/// `f` bound to its slot and requester: skipped when the requester is
/// gone, and in every case the slot is released when the job is over.
fn job<T: Send + 'static>(
    slot: OwnedSemaphorePermit,
    tx: oneshot::Sender<T>,
    counts: Arc<Counts>,
    f: impl FnOnce() -> T + Send + 'static,
) -> Job {
    Box::new(move || {
        // Declared in this order so that, even when `f` panics, the job
        // stops counting as running, then gives its slot back, and only
        // then does its requester hear that it is over.
        let tx = tx;
        let slot = slot;
        if tx.is_closed() {
            return;
        }
        let result = {
            let _running = Running::enter(&counts.running);
            f()
        };
        counts.completed.fetch_add(1, Ordering::Relaxed);
        drop(slot);
        let _ = tx.send(result);
    })
}

/// A worker: runs jobs until the pool is dropped. A panicking job fails
/// only its own request (its result channel closes); the worker goes on.
fn work(queue: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        // Idle workers take turns waiting on the queue; the lock is
        // released before the job runs.
        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = next else {
            return;
        };
        let _ = catch_unwind(AssertUnwindSafe(job));
    }
}

/// Counts a job as running for as long as it lives (panics included).
struct Running<'a>(&'a AtomicUsize);

impl<'a> Running<'a> {
    fn enter(gauge: &'a AtomicUsize) -> Self {
        gauge.fetch_add(1, Ordering::Relaxed);
        Running(gauge)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Condvar;
    use std::time::Duration;

    use super::*;

    fn pool(size: usize) -> HashPool {
        HashPool::new(NonZeroUsize::new(size).unwrap())
    }

    /// Holds every job that reaches it until opened, and records how many
    /// were inside at once.
    #[derive(Default)]
    struct Gate {
        state: Mutex<GateState>,
        changed: Condvar,
    }

    #[derive(Default)]
    struct GateState {
        open: bool,
        inside: usize,
        most_inside: usize,
        entered: usize,
    }

    impl Gate {
        fn pass(&self) {
            let mut s = self.state.lock().unwrap();
            s.inside += 1;
            s.entered += 1;
            s.most_inside = s.most_inside.max(s.inside);
            self.changed.notify_all();
            while !s.open {
                s = self.changed.wait(s).unwrap();
            }
            s.inside -= 1;
            self.changed.notify_all();
        }

        /// Resolves once `n` jobs have entered, without blocking the executor.
        async fn entered(&self, n: usize) {
            while self.state.lock().unwrap().entered < n {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }

        fn open(&self) {
            self.state.lock().unwrap().open = true;
            self.changed.notify_all();
        }

        fn most_inside(&self) -> usize {
            self.state.lock().unwrap().most_inside
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelled_requests_leave_at_most_size_jobs_running() {
        let pool = pool(2);
        let gate = Arc::new(Gate::default());
        // The first two requests get a slot and are given up once their
        // jobs run (blocked in the gate).
        for n in 1..=2 {
            let g = Arc::clone(&gate);
            let request = pool.run(move || g.pass());
            tokio::select! {
                _ = request => unreachable!("the gate is closed"),
                () = gate.entered(n) => {}
            }
        }
        // Forty more requests, each given up while it waits.
        for _ in 0..40 {
            let g = Arc::clone(&gate);
            let request = pool.run(move || g.pass());
            assert!(tokio::time::timeout(Duration::from_millis(5), request)
                .await
                .is_err());
            assert!(pool.running() <= 2);
        }
        assert_eq!(gate.most_inside(), 2);
        assert_eq!(pool.running(), 2);
        assert_eq!(pool.workers.load(Ordering::Relaxed), 2);

        gate.open();
        // Both slots come back once the two jobs are over: two jobs that
        // can only end together (each waits for the other) both run.
        let both = Arc::new(std::sync::Barrier::new(2));
        let together = || {
            let both = Arc::clone(&both);
            pool.run(move || both.wait().is_leader())
        };
        let (a, b) = tokio::join!(together(), together());
        assert!(a.unwrap() != b.unwrap(), "exactly one leader");
        assert_eq!(pool.running(), 0);
        // No job of a cancelled waiter ever ran.
        assert_eq!(gate.state.lock().unwrap().entered, 2);
        assert_eq!(pool.completed(), 4);
        assert_eq!(pool.workers.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_job_whose_requester_left_is_skipped_and_frees_its_slot() {
        let slots = Arc::new(Semaphore::new(1));
        let slot = Arc::clone(&slots).try_acquire_owned().unwrap();
        let (tx, rx) = oneshot::channel();
        drop(rx);
        let ran = Arc::new(AtomicUsize::new(0));
        let r = Arc::clone(&ran);
        let counts = Arc::new(Counts::default());
        job(slot, tx, Arc::clone(&counts), move || {
            r.fetch_add(1, Ordering::Relaxed)
        })();
        assert_eq!(ran.load(Ordering::Relaxed), 0);
        assert_eq!(counts.completed.load(Ordering::Relaxed), 0);
        assert_eq!(slots.available_permits(), 1);
    }

    #[tokio::test]
    async fn a_panicking_job_fails_its_request_and_the_pool_goes_on() {
        let pool = pool(1);
        let failed = pool.run(|| panic!("hashing bug")).await;
        assert!(failed.is_err());
        assert_eq!(pool.running(), 0);
        assert_eq!(pool.run(|| 1 + 1).await.unwrap(), 2);
        assert_eq!(pool.workers.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn threads_start_on_demand_up_to_the_size() {
        let pool = pool(3);
        assert_eq!(pool.workers.load(Ordering::Relaxed), 0);
        for i in 0..10 {
            assert_eq!(pool.run(move || i).await.unwrap(), i);
        }
        assert_eq!(pool.workers.load(Ordering::Relaxed), 3);
    }
}
