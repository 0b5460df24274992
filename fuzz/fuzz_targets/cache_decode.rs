//! The cookie cache codecs' decode (compact, jwt, jwe), through the public
//! `SessionCache` and `CacheCodec` API, keyed with several secrets in force.
//! The first input byte picks the strategy, the rest is the cookie value.
//!
//! Invariants: no panic; a value that opens re-encodes to one that opens
//! to the same session, user, version and write time (a roundtrip); a
//! cache with a memo decodes exactly as one without.

#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use tessera::cache::{CacheCodec, CachePayload, CacheStrategy, CacheVersion, SessionCache};
use tessera_fuzz::{secrets, NOW};

/// One strategy: its codec, and a cache without and with a memo.
struct Strategy {
    codec: Arc<dyn CacheCodec>,
    plain: SessionCache,
    memoised: SessionCache,
}

fn strategies() -> &'static [Strategy; 3] {
    static ALL: OnceLock<[Strategy; 3]> = OnceLock::new();
    ALL.get_or_init(|| {
        [
            CacheStrategy::Compact,
            CacheStrategy::Jwt,
            CacheStrategy::Jwe,
        ]
        .map(|strategy| {
            let plain =
                SessionCache::new(strategy, &secrets(), 604_800, CacheVersion::default(), None)
                    .expect("cache keys");
            Strategy {
                codec: SessionCache::codec_for(strategy, &secrets()).expect("cache keys"),
                memoised: plain.clone().with_memo_bytes(1 << 20),
                plain,
            }
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(value) = std::str::from_utf8(rest) else {
        return;
    };
    let Strategy {
        codec,
        plain,
        memoised,
    } = &strategies()[usize::from(pick % 3)];

    if let Ok(opened) = codec.open(value, NOW) {
        let cached = &opened.session;
        let payload = CachePayload {
            session: &cached.data.session,
            user: &cached.data.user,
            updated_at: cached.updated_at,
            version: &cached.version,
        };
        let again = codec.encode(&payload, NOW, Some(plain.max_age));
        let reopened = codec
            .open(&again, NOW)
            .unwrap_or_else(|miss| panic!("re-encoded cache does not open: {miss:?}: {again}"));
        assert_eq!(reopened.session.data, cached.data);
        assert_eq!(reopened.session.version, cached.version);
        assert_eq!(reopened.session.updated_at, cached.updated_at);
    }

    let first = plain.decode(value, NOW);
    assert_eq!(memoised.decode(value, NOW), first);
    assert_eq!(memoised.decode(value, NOW), first, "a memo hit");
});
