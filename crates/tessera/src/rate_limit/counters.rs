//! Counters in bounded memory: the in-process store of the rate limiter and
//! of the per-account throttle.
//!
//! At most `capacity` keys are kept; past it `quick_cache`'s S3-FIFO evicts,
//! one-off keys first: a flood of new keys (unique addresses, unique
//! emails) mostly evicts its own entries and leaves the keys that keep
//! coming back, such as an account under attack. Memory is bounded by the
//! capacity whatever clients send, as every key has a bounded size.

use std::hash::Hash;

use quick_cache::sync::{Cache, EntryAction, EntryResult};

/// A counter and the instant it started or last changed, as the rule
/// using it decides.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Window {
    /// Requests counted; 0 in a counter just created.
    pub(crate) count: u64,
    /// Milliseconds since the epoch.
    pub(crate) at_ms: i64,
}

/// At most `capacity` counters, updated atomically one key at a time.
pub(crate) struct BoundedCounters<K> {
    cache: Cache<K, Window>,
}

impl<K: Eq + Hash + Clone> BoundedCounters<K> {
    /// Room for `capacity` keys (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        BoundedCounters {
            cache: Cache::new(capacity.max(1)),
        }
    }

    /// Runs `f` on the counter of `key` (a zeroed [`Window`] when there is
    /// none) and keeps what it leaves there. Atomic per key: `f` runs under
    /// the shard's lock, so it must be short (and never await).
    pub(crate) fn update<Q, T>(&self, key: &Q, mut f: impl FnMut(&mut Window) -> T) -> T
    where
        Q: Hash + quick_cache::Equivalent<K> + ToOwned<Owned = K> + ?Sized,
    {
        match self
            .cache
            .entry(key, None, |_, w| EntryAction::Retain(f(w)))
        {
            EntryResult::Retained(t) => t,
            EntryResult::Vacant(placeholder) => {
                let mut w = Window::default();
                let t = f(&mut w);
                // Err only if the placeholder was removed meanwhile: then
                // this count is lost, as if evicted.
                let _ = placeholder.insert(w);
                t
            }
            // Not asked for: only `Retain` is returned and there is no
            // timeout. Count as a new key would be.
            EntryResult::Removed(..) | EntryResult::Replaced(..) | EntryResult::Timeout => {
                f(&mut Window::default())
            }
        }
    }

    /// Forgets `key`.
    pub(crate) fn remove<Q>(&self, key: &Q)
    where
        Q: Hash + quick_cache::Equivalent<K> + ?Sized,
    {
        self.cache.remove(key);
    }

    /// How many keys are held.
    pub(crate) fn len(&self) -> usize {
        self.cache.len()
    }

    /// The most keys it holds: the capacity, rounded up to a whole number
    /// per shard (so fewer than one more per shard).
    pub(crate) fn limit(&self) -> usize {
        let per_shard = usize::try_from(self.cache.shard_capacity()).unwrap_or(usize::MAX);
        per_shard.saturating_mul(self.cache.num_shards())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_key_and_forgets() {
        let counters = BoundedCounters::<String>::new(100);
        for _ in 0..3 {
            counters.update("a", |w| w.count += 1);
        }
        counters.update("b", |w| w.count += 1);
        assert_eq!(counters.update("a", |w| w.count), 3);
        counters.remove("a");
        assert_eq!(counters.update("a", |w| w.count), 0);
        assert_eq!(counters.update("b", |w| w.count), 1);
    }

    #[test]
    fn unique_keys_never_grow_it_past_its_capacity() {
        let counters = BoundedCounters::<String>::new(1_000);
        let limit = counters.limit();
        assert!((1_000..1_000 + counters.cache.num_shards()).contains(&limit));
        for i in 0..50_000 {
            counters.update(
                format!("198.51.{}.{}|/ok", i / 256, i % 256).as_str(),
                |w| w.count += 1,
            );
            assert!(counters.len() <= limit, "{} keys after {i}", counters.len());
        }
    }

    #[test]
    fn a_key_that_keeps_coming_back_survives_a_flood_of_new_ones() {
        let counters = BoundedCounters::<String>::new(1_000);
        for i in 0..20_000 {
            if i % 10 == 0 {
                counters.update("victim", |w| w.count += 1);
            }
            counters.update(format!("flood-{i}").as_str(), |w| w.count += 1);
        }
        assert_eq!(counters.update("victim", |w| w.count), 2_000);
    }
}
