//! A bounded memo of opened cookie caches, keyed by the exact cookie value.
//!
//! A client sends the same `session_data` on every request until it is
//! re-issued, and opening it (MAC or tag, decryption, JSON) is most of the
//! cost of a cache hit. What [`CacheCodec::open`] returns is a function of
//! the value's bytes and the keys fixed when [`crate::Auth`] was built, so
//! remembering it changes no outcome, as long as:
//!
//! - the key is the whole value, compared byte for byte (never a digest:
//!   a collision would hand one user another's session);
//! - only successful opens are kept (a forged or garbled value costs its
//!   full verification every time, and cannot fill the memo);
//! - nothing that took the clock is kept ([`Opened::clock_defaults`]); the
//!   clock checks ([`TimeWindow::check`](super::TimeWindow::check)) and
//!   every session check in resolution run on every request, hit or not.
//!
//! Bounded by an estimate of bytes held, evicting with S3-FIFO
//! (`quick_cache`): a burst of one-off values does not flush the values
//! that recur. Lookups take a shard's read lock only, never across an
//! `.await`.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use quick_cache::sync::Cache;
use quick_cache::Weighter;

use super::payload::{Miss, Opened};
use super::CacheCodec;
use crate::cookie::SIGNATURE_LEN;
use crate::Timestamp;

/// The default budget: 16 MiB, some 5,000 sessions with 1.5 KB cookies.
pub const DEFAULT_MEMO_BYTES: u64 = 16 * 1024 * 1024;

/// An opened cache value, its records as `/get-session` writes them,
/// rendered on first use, and the signed `session_token` cookie value seen
/// with it.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) opened: Opened,
    json: OnceLock<Bytes>,
    signed_token: OnceLock<Box<str>>,
}

impl Entry {
    pub(crate) fn new(opened: Opened) -> Self {
        Entry {
            opened,
            json: OnceLock::new(),
            signed_token: OnceLock::new(),
        }
    }

    /// Remembers `signed`, a `session_token` cookie value that verified
    /// (HMAC) to this entry's session token, sent with this cache value.
    /// The first one stays.
    pub(crate) fn remember_signed_token(&self, signed: &str) {
        self.signed_token.get_or_init(|| signed.into());
    }

    /// The token `signed` carries, when it is the very value that verified
    /// before with this cache value: the same bytes under the same secrets
    /// (fixed per [`crate::Auth`]) verify the same way, so the HMAC need
    /// not run again. Compared in constant time: `signed` holds a MAC.
    pub(crate) fn vouched_token<'s>(&self, signed: &'s str) -> Option<&'s str> {
        let known = self.signed_token.get()?;
        if !ct_eq_words(known.as_bytes(), signed.as_bytes()) {
            return None;
        }
        // What verified was `<token>.<44 characters of signature>`.
        signed.get(..signed.len().checked_sub(SIGNATURE_LEN + 1)?)
    }

    /// `{"session":…,"user":…}`, the body of a get-session answer.
    pub(crate) fn records_json(&self) -> Bytes {
        self.json
            .get_or_init(|| {
                Bytes::from(serde_json::to_vec(&*self.opened.session.data).unwrap_or_default())
            })
            .clone()
    }
}

/// `a == b` in time that depends on the lengths only, eight bytes per
/// `subtle` step (its byte-slice comparison takes one per byte).
fn ct_eq_words(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    fn word(chunk: &[u8]) -> u64 {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        u64::from_le_bytes(w)
    }
    if a.len() != b.len() {
        return false;
    }
    let (a_words, b_words) = (a.chunks_exact(8), b.chunks_exact(8));
    let tails = word(a_words.remainder()).ct_eq(&word(b_words.remainder()));
    a_words
        .zip(b_words)
        .fold(tails, |equal, (x, y)| equal & word(x).ct_eq(&word(y)))
        .into()
}

/// A signed `session_token` value: a 32-character token, `.`, and 44
/// characters of signature, rounded up.
const SIGNED_TOKEN_BYTES: usize = 96;

/// Weighs an entry by the bytes it holds, estimated: the key, the records
/// decoded from it and their JSON (each no larger than the value they were
/// encoded in), the signed token seen with it, and the fixed part.
#[derive(Clone, Copy, Debug, Default)]
struct ByBytes;

impl Weighter<Box<str>, Arc<Entry>> for ByBytes {
    fn weight(&self, key: &Box<str>, _: &Arc<Entry>) -> u64 {
        (3 * key.len() + std::mem::size_of::<Entry>() + SIGNED_TOKEN_BYTES) as u64
    }
}

/// Opened cookie caches by value, within a byte budget.
pub(crate) struct OpenMemo {
    entries: Cache<Box<str>, Arc<Entry>, ByBytes>,
}

impl std::fmt::Debug for OpenMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenMemo")
            .field("entries", &self.entries.len())
            .field("bytes", &self.entries.weight())
            .finish()
    }
}

impl OpenMemo {
    /// A memo holding about `bytes` (see [`ByBytes`]).
    pub(crate) fn new(bytes: u64) -> Self {
        // quick_cache sizes its tables from an item estimate: 1.5 KB values.
        let items = usize::try_from(bytes / 3_000).unwrap_or(usize::MAX).max(16);
        OpenMemo {
            entries: Cache::with_weighter(items, bytes, ByBytes),
        }
    }

    /// What `value` opened to before, if it is remembered.
    pub(crate) fn recall(&self, value: &str) -> Option<Arc<Entry>> {
        self.entries.get(value)
    }

    /// `codec.open(value, now)`, remembered.
    pub(crate) fn open(
        &self,
        codec: &dyn CacheCodec,
        value: &str,
        now: Timestamp,
    ) -> Result<Arc<Entry>, Miss> {
        if let Some(entry) = self.recall(value) {
            return Ok(entry);
        }
        let entry = Arc::new(Entry::new(codec.open(value, now)?));
        if !entry.opened.clock_defaults {
            self.entries.insert(value.into(), Arc::clone(&entry));
        }
        Ok(entry)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::cache::{CachePayload, CachedSession, TimeWindow};
    use crate::store::{Session, SessionWithUser, User};

    proptest::proptest! {
        #[test]
        fn word_comparison_is_equality(
            a in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100),
            b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100),
            flip in 0usize..100,
        ) {
            proptest::prop_assert_eq!(ct_eq_words(&a, &b), a == b);
            proptest::prop_assert!(ct_eq_words(&a, &a));
            // One differing byte anywhere, the last chunk's padding included.
            let mut c = a.clone();
            if let Some(byte) = c.get_mut(flip) {
                *byte ^= 1;
                proptest::prop_assert!(!ct_eq_words(&a, &c));
            }
        }
    }

    /// Opens `ok:<n>` (clock defaults when n is odd), refuses the rest,
    /// and counts its calls.
    struct Counting(AtomicUsize);

    impl CacheCodec for Counting {
        fn encode(&self, _: &CachePayload<'_>, _: Timestamp, _: Option<u64>) -> String {
            unreachable!("the memo never encodes")
        }
        fn open(&self, value: &str, now: Timestamp) -> Result<Opened, Miss> {
            self.0.fetch_add(1, Ordering::SeqCst);
            let n: u32 = value
                .strip_prefix("ok:")
                .and_then(|n| n.parse().ok())
                .ok_or(Miss::BadSignature)?;
            let session = Session {
                expires_at: now,
                token: "t".to_owned(),
                created_at: now,
                updated_at: now,
                ip_address: None,
                user_agent: None,
                user_id: "u".to_owned(),
                id: "s".to_owned(),
                extra: Default::default(),
            };
            let user = User {
                name: "A".to_owned(),
                email: "a@example.com".to_owned(),
                email_verified: false,
                image: None,
                created_at: now,
                updated_at: now,
                id: "u".to_owned(),
                extra: Default::default(),
            };
            Ok(Opened {
                session: CachedSession {
                    data: Arc::new(SessionWithUser { session, user }),
                    updated_at: now.as_millis(),
                    version: n.to_string(),
                    expires_at: now,
                },
                window: TimeWindow::default(),
                clock_defaults: n % 2 == 1,
            })
        }
    }

    #[test]
    fn opens_once_per_value_and_never_keeps_failures_or_clock_results() {
        let codec = Counting(AtomicUsize::new(0));
        let memo = OpenMemo::new(DEFAULT_MEMO_BYTES);
        let now = Timestamp::from_millis(1_000);
        let calls = || codec.0.load(Ordering::SeqCst);
        for _ in 0..3 {
            assert_eq!(
                memo.open(&codec, "ok:2", now)
                    .unwrap()
                    .opened
                    .session
                    .version,
                "2"
            );
        }
        assert_eq!(calls(), 1);
        for _ in 0..3 {
            assert_eq!(
                memo.open(&codec, "forged", now).err(),
                Some(Miss::BadSignature)
            );
            memo.open(&codec, "ok:3", now).unwrap();
        }
        assert_eq!(calls(), 7);
        assert_eq!(memo.len(), 1);
        // A value differing in one byte is another value.
        assert_eq!(
            memo.open(&codec, "ok:4", now)
                .unwrap()
                .opened
                .session
                .version,
            "4"
        );
        assert_eq!(calls(), 8);
    }

    #[test]
    fn stays_within_its_byte_budget() {
        let codec = Counting(AtomicUsize::new(0));
        let budget = 64 * 1024;
        let memo = OpenMemo::new(budget);
        let now = Timestamp::from_millis(1_000);
        let pad = "0".repeat(1_500);
        for n in 0..1_000u32 {
            memo.open(&codec, &format!("ok:{pad}{}", n * 2), now)
                .unwrap();
        }
        assert!(memo.entries.weight() <= budget, "{:?}", memo);
        assert!(memo.len() > 1 && memo.len() < 1_000, "{:?}", memo);
    }
}
