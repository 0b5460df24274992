//! The OAuth cookies' readers on arbitrary text: `StateCipher::open` and
//! `open_str` (the `oauth_state` cookie and sealed link tokens) under a
//! single secret and under versioned secrets with a legacy one,
//! `StateData::from_json` (better-auth's state schema), and
//! `AccountCookie::open` (the `account_data` JWE).
//!
//! Invariants: no panic; whatever opens or parses re-seals or re-writes to
//! a value that opens or parses to the same state, string or account.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tessera::oauth::{AccountCookie, Purpose, StateCipher, StateData};
use tessera::Secrets;
use tessera_fuzz::{oauth_secrets, NOW, SECRET};

struct Readers {
    ciphers: [StateCipher; 3],
    account: AccountCookie,
}

fn readers() -> &'static Readers {
    static READERS: OnceLock<Readers> = OnceLock::new();
    READERS.get_or_init(|| Readers {
        ciphers: [
            StateCipher::new(&Secrets::single(SECRET), Purpose::OAuthStateCookie),
            StateCipher::new(&oauth_secrets(), Purpose::OAuthStateCookie),
            StateCipher::new(&oauth_secrets(), Purpose::OAuthLinkSessionToken),
        ],
        account: AccountCookie::new(&oauth_secrets()).expect("account cookie keys"),
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let readers = readers();

    for cipher in &readers.ciphers {
        if let Ok(state) = cipher.open(value) {
            let again = cipher.seal(&state);
            assert_eq!(cipher.open(&again).expect("a re-sealed state opens"), state);
        }
        if let Ok(text) = cipher.open_str(value) {
            let again = cipher.seal_str(&text);
            // `open_str` drops one leading byte order mark, as TextDecoder does.
            let expected = text.strip_prefix('\u{feff}').unwrap_or(&text);
            assert_eq!(
                cipher.open_str(&again).expect("a re-sealed string opens"),
                expected
            );
        }
    }

    if let Ok(state) = StateData::from_json(value) {
        let json = state.to_json();
        let again = StateData::from_json(&json)
            .unwrap_or_else(|e| panic!("a written state does not parse: {e}: {json}"));
        assert_eq!(again, state);
    }

    if let Ok(account) = readers.account.open(value, NOW) {
        let again = readers.account.seal(&account, NOW, 600);
        let reopened = readers
            .account
            .open(&again, NOW)
            .expect("a re-sealed account opens");
        assert_eq!(reopened, account);
    }
});
