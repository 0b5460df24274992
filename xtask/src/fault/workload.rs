//! The load: clients signing up, signing in, reading and revoking
//! sessions against both processes, and probes timing each service's
//! return. Each client is a thread with a log of its own, merged at the
//! end.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::http::{self, Reply};
use super::record::{Class, Endpoint, Exchange, LiveCheck, Outcome, RevokedCheck, Target};

const PASSWORD: &str = "fault-password-1234";
/// A client waits this long after a failed connection, so a dead process
/// is not hammered in a tight loop.
const CONNECTION_BACKOFF: Duration = Duration::from_millis(100);
/// A client waits this long after a failed sign-up.
const SIGN_UP_BACKOFF: Duration = Duration::from_millis(50);
/// Between two requests of a probe.
const PROBE_INTERVAL: Duration = Duration::from_millis(50);
/// Revocations this recent are checked again on every iteration: the
/// checks that land just past the lag.
const RECENT: Duration = Duration::from_secs(3);
/// Older sessions sampled on every iteration, of each kind.
const SAMPLED: usize = 2;
/// Threads for the checks at the end.
const VERIFIERS: usize = 8;

/// What every client shares: where the servers are, and the clock.
pub(super) struct Load {
    pub(super) start: Instant,
    pub(super) stop: AtomicBool,
    pub(super) addrs: [SocketAddr; 2],
    /// A name for this run's users.
    pub(super) run: String,
    /// Which of their sessions (and users) the probes use: with
    /// `--cluster`, the ones on the master being faulted.
    pub(super) focus: AtomicUsize,
    /// The token of the session a client saw confirmed last.
    pub(super) last_token: Mutex<Option<String>>,
}

impl Load {
    pub(super) fn new(addrs: [SocketAddr; 2], run: String) -> Load {
        Load {
            start: Instant::now(),
            stop: AtomicBool::new(false),
            addrs,
            run,
            focus: AtomicUsize::new(0),
            last_token: Mutex::new(None),
        }
    }

    /// The token of the session a client saw confirmed last, if any.
    pub(super) fn last_token(&self) -> Option<String> {
        self.last_token.lock().ok().and_then(|t| t.clone())
    }

    fn saw_confirmed(&self, session: &Session) {
        if let Ok(mut last) = self.last_token.lock() {
            *last = Some(session.token.clone());
        }
    }

    /// `items[focus]`: the probes' choice.
    fn focused<'i, T>(&self, items: &'i [T]) -> &'i T {
        &items[self.focus.load(Ordering::Relaxed) % items.len()]
    }

    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn addr(&self, target: Target) -> SocketAddr {
        self.addrs[target.index()]
    }
}

/// A session whose sign-up or sign-in answered 200.
#[derive(Clone, Debug)]
pub(super) struct Session {
    /// The `Cookie` header: the session token and the `jwe` cache.
    pub(super) cookie: String,
    pub(super) token: String,
    pub(super) created_on: Target,
}

/// A session whose revocation answered 200.
#[derive(Clone, Debug)]
pub(super) struct Revoked {
    pub(super) session: Session,
    pub(super) on: Target,
    /// When the 200 came back.
    pub(super) at: Duration,
}

/// What one client (or probe) saw.
#[derive(Default)]
pub(super) struct ClientLog {
    pub(super) exchanges: Vec<Exchange>,
    /// Confirmed and never revoked.
    pub(super) live: Vec<Session>,
    pub(super) revoked: Vec<Revoked>,
    /// Confirmed sessions whose revocation failed: revoked or not, no
    /// one can say, so neither check counts them.
    pub(super) in_doubt: usize,
    pub(super) revoked_checks: Vec<RevokedCheck>,
    /// A confirmed, unrevoked session answered `null` mid-run.
    pub(super) live_nulls: Vec<(Target, Duration)>,
}

/// One request's answer and when it was sent.
struct Answer {
    sent: Duration,
    reply: Option<Reply>,
}

struct Client<'a> {
    load: &'a Load,
    id: usize,
    log: ClientLog,
    /// xorshift64 state: which older sessions to check again.
    random: u64,
}

impl<'a> Client<'a> {
    fn new(load: &'a Load, id: usize) -> Client<'a> {
        Client {
            load,
            id,
            log: ClientLog::default(),
            random: 0x9E37_79B9_7F4A_7C15
                ^ (id as u64)
                    .wrapping_add(1)
                    .wrapping_mul(0xBF58_476D_1CE4_E5B9),
        }
    }

    fn pick(&mut self, len: usize) -> usize {
        self.random ^= self.random << 13;
        self.random ^= self.random >> 7;
        self.random ^= self.random << 17;
        (self.random % len as u64) as usize
    }

    /// Sends one request, records it, and returns the reply if there was
    /// one. POSTs carry the target's origin and a JSON body.
    fn send(
        &mut self,
        target: Target,
        endpoint: Endpoint,
        path: &str,
        cookie: Option<&str>,
        body: Option<&str>,
    ) -> Answer {
        let addr = self.load.addr(target);
        let origin = format!("http://{addr}");
        let mut headers = Vec::new();
        let method = if body.is_some() { "POST" } else { "GET" };
        if body.is_some() {
            headers.push(("Origin", origin.as_str()));
            headers.push(("Content-Type", "application/json"));
        }
        if let Some(cookie) = cookie {
            headers.push(("Cookie", cookie));
        }
        let sent = self.load.now();
        let result = http::request(addr, method, &format!("/api/auth{path}"), &headers, body);
        let received = self.load.now();
        let outcome = match &result {
            Ok(reply) => Outcome::Status(reply.status),
            Err(failure) => *failure,
        };
        self.log.exchanges.push(Exchange {
            target,
            endpoint,
            sent,
            received,
            outcome,
        });
        if outcome.class() == Class::Connection {
            std::thread::sleep(CONNECTION_BACKOFF);
        }
        Answer {
            sent,
            reply: result.ok(),
        }
    }

    /// A sign-up or sign-in that answered 200 with a session cookie.
    fn confirmed(target: Target, answer: Answer) -> Option<Session> {
        let reply = answer.reply.filter(|r| r.status == 200)?;
        let cookie = reply.cookies();
        let token = http::json_string(&reply.body, "token")?;
        cookie.contains("session_token=").then_some(Session {
            cookie,
            token,
            created_on: target,
        })
    }

    fn sign_up(&mut self, target: Target, email: &str) -> Option<Session> {
        let body = format!(r#"{{"email":"{email}","password":"{PASSWORD}","name":"Fault"}}"#);
        let answer = self.send(
            target,
            Endpoint::SignUp,
            "/sign-up/email",
            None,
            Some(&body),
        );
        let session = Self::confirmed(target, answer);
        session.inspect(|s| self.load.saw_confirmed(s))
    }

    fn sign_in(&mut self, target: Target, email: &str) -> Option<Session> {
        let session = self.sign_in_as(target, Endpoint::SignIn, email);
        session.inspect(|s| self.load.saw_confirmed(s))
    }

    /// A sign-in recorded as `endpoint`.
    fn sign_in_as(&mut self, target: Target, endpoint: Endpoint, email: &str) -> Option<Session> {
        let body = format!(r#"{{"email":"{email}","password":"{PASSWORD}"}}"#);
        let answer = self.send(target, endpoint, "/sign-in/email", None, Some(&body));
        Self::confirmed(target, answer)
    }

    /// get-session (a cookie-cache hit, mostly) for a session that must
    /// still be there.
    fn check_live(&mut self, target: Target, session: &Session) {
        let answer = self.send(
            target,
            Endpoint::GetSession,
            "/get-session",
            Some(&session.cookie),
            None,
        );
        if answer
            .reply
            .is_some_and(|r| r.status == 200 && !r.is_session())
        {
            self.log.live_nulls.push((target, answer.sent));
        }
    }

    /// get-session for a revoked session: an answer that is a session
    /// counts as accepted.
    fn check_revoked(&mut self, target: Target, revoked: &Revoked) {
        let answer = self.send(
            target,
            Endpoint::GetSession,
            "/get-session",
            Some(&revoked.session.cookie),
            None,
        );
        if let Some(reply) = answer.reply {
            self.log.revoked_checks.push(RevokedCheck {
                target,
                revoked_at: revoked.at,
                sent: answer.sent,
                accepted: reply.is_session(),
            });
        }
    }

    /// Revokes `victim` on `target` with `endpoint`, sent with the
    /// cookie `acting`; a 200 confirms it.
    fn revoke(&mut self, target: Target, endpoint: Endpoint, acting: &str, victim: Session) {
        let (path, body) = match endpoint {
            Endpoint::RevokeSession => (
                "/revoke-session",
                format!(r#"{{"token":"{}"}}"#, victim.token),
            ),
            Endpoint::SignOut => ("/sign-out", "{}".to_owned()),
            _ => ("/revoke-other-sessions", "{}".to_owned()),
        };
        self.send(target, endpoint, path, Some(acting), Some(&body));
        let confirmed = self
            .log
            .exchanges
            .last()
            .filter(|e| e.outcome == Outcome::Status(200))
            .map(|e| e.received);
        match confirmed {
            Some(at) => {
                let revoked = Revoked {
                    session: victim,
                    on: target,
                    at,
                };
                // Within the lag: either answer is allowed, but it is the
                // race worth having in the record.
                self.check_revoked(target.other(), &revoked);
                self.log.revoked.push(revoked);
            }
            None => self.log.in_doubt += 1,
        }
    }

    /// One round: a new user with two sessions on the two processes, one
    /// of them revoked three rounds in four, then older sessions checked
    /// again on the process that did not create or revoke them.
    fn round(&mut self, round: usize) {
        let home = if (self.id + round) % 2 == 0 {
            Target::A
        } else {
            Target::B
        };
        let email = format!("{}-{}-{round}@example.com", self.load.run, self.id);
        let Some(first) = self.sign_up(home, &email) else {
            std::thread::sleep(SIGN_UP_BACKOFF);
            return;
        };
        let second = self.sign_in(home.other(), &email);
        self.check_live(home, &first);
        self.check_live(home.other(), &first);
        if let Some(second) = second {
            self.check_live(home, &second);
            let at = if (round / 4) % 2 == 0 {
                home
            } else {
                home.other()
            };
            match round % 4 {
                0 => self.revoke(at, Endpoint::RevokeSession, &first.cookie, second),
                1 => {
                    let own = second.cookie.clone();
                    self.revoke(at, Endpoint::SignOut, &own, second);
                }
                2 => self.revoke(at, Endpoint::RevokeOtherSessions, &first.cookie, second),
                _ => self.log.live.push(second),
            }
        }
        self.log.live.push(first);
        self.check_again();
    }

    fn check_again(&mut self) {
        let now = self.load.now();
        let recent: Vec<Revoked> = self
            .log
            .revoked
            .iter()
            .rev()
            .take_while(|r| now.saturating_sub(r.at) < RECENT)
            .cloned()
            .collect();
        for revoked in &recent {
            self.check_revoked(revoked.on.other(), revoked);
        }
        for _ in 0..SAMPLED {
            if !self.log.revoked.is_empty() {
                let i = self.pick(self.log.revoked.len());
                let revoked = self.log.revoked[i].clone();
                self.check_revoked(revoked.on.other(), &revoked);
            }
            if !self.log.live.is_empty() {
                let i = self.pick(self.log.live.len());
                let live = self.log.live[i].clone();
                self.check_live(live.created_on.other(), &live);
            }
        }
    }
}

/// Client `id`'s rounds until the load stops.
pub(super) fn client(load: &Load, id: usize) -> ClientLog {
    let mut client = Client::new(load, id);
    let mut round = 0;
    while !load.stopped() {
        client.round(round);
        round += 1;
    }
    client.log
}

/// Reads `endpoint` on `target` every [`PROBE_INTERVAL`] until the load
/// stops, with the cookie of the focused one of `sessions`.
pub(super) fn probe(
    load: &Load,
    target: Target,
    endpoint: Endpoint,
    sessions: &[Session],
) -> ClientLog {
    let path = match endpoint {
        Endpoint::ListAccounts => "/list-accounts",
        _ => "/get-session?disableCookieCache=true",
    };
    let mut client = Client::new(load, usize::MAX);
    while !load.stopped() {
        let session = load.focused(sessions);
        client.send(target, endpoint, path, Some(&session.cookie), None);
        std::thread::sleep(PROBE_INTERVAL);
    }
    client.log
}

/// The write probe (`--cluster`): every [`PROBE_INTERVAL`] until the load
/// stops, signs in the focused one of `emails`' users on `target`, which
/// writes that user's session index, then signs the new session out.
pub(super) fn write_probe(load: &Load, target: Target, emails: &[String]) -> ClientLog {
    let mut client = Client::new(load, usize::MAX);
    while !load.stopped() {
        let email = load.focused(emails);
        if let Some(session) = client.sign_in_as(target, Endpoint::SignInProbe, email) {
            client.send(
                target,
                Endpoint::SignOutProbe,
                "/sign-out",
                Some(&session.cookie),
                Some("{}"),
            );
        }
        std::thread::sleep(PROBE_INTERVAL);
    }
    client.log
}

/// A user the probes use, signed up outside the record.
pub(super) struct ProbeUser {
    pub(super) email: String,
    pub(super) id: String,
    /// The session of its sign-up.
    pub(super) session: Session,
}

/// Signs up a probes' user named `name` on `target`, outside the record.
pub(super) fn probe_user(load: &Load, target: Target, name: &str) -> Result<ProbeUser, String> {
    let mut client = Client::new(load, usize::MAX);
    let email = format!("{}-{name}@example.com", load.run);
    let body = format!(r#"{{"email":"{email}","password":"{PASSWORD}","name":"Fault"}}"#);
    let answer = client.send(
        target,
        Endpoint::SignUp,
        "/sign-up/email",
        None,
        Some(&body),
    );
    let id = answer
        .reply
        .as_ref()
        .and_then(|r| http::json_string(&r.body, "id"));
    match (Client::confirmed(target, answer), id) {
        (Some(session), Some(id)) => Ok(ProbeUser { email, id, session }),
        _ => Err(match client.log.exchanges.last() {
            Some(e) => format!("the probes' sign-up answered {}", e.outcome.describe()),
            None => "the probes' sign-up sent nothing".to_owned(),
        }),
    }
}

/// Signs up the probes' user on `target`, outside the record.
pub(super) fn probe_session(load: &Load, target: Target) -> Result<Session, String> {
    probe_user(load, target, "probe").map(|user| user.session)
}

/// Every live session on both processes, read from the store
/// (`disableCookieCache=true`).
pub(super) fn verify_live(load: &Load, sessions: &[Session]) -> Vec<LiveCheck> {
    in_parallel(load, sessions, |client, session| {
        Target::BOTH
            .into_iter()
            .map(|target| {
                let answer = client.send(
                    target,
                    Endpoint::GetSessionFromStore,
                    "/get-session?disableCookieCache=true",
                    Some(&session.cookie),
                    None,
                );
                let outcome = client.log.exchanges.last().map(|e| e.outcome);
                LiveCheck {
                    target,
                    outcome: outcome.unwrap_or(Outcome::ConnectionFailed),
                    answered: answer.reply.is_some_and(|r| r.is_session()),
                }
            })
            .collect()
    })
}

/// Every revoked session on both processes, with its cache cookie.
pub(super) fn verify_revoked(load: &Load, revoked: &[Revoked]) -> Vec<RevokedCheck> {
    in_parallel(load, revoked, |client, revoked| {
        for target in Target::BOTH {
            client.check_revoked(target, revoked);
        }
        std::mem::take(&mut client.log.revoked_checks)
    })
}

/// `check` on every item, spread over [`VERIFIERS`] threads.
fn in_parallel<T: Sync, R: Send>(
    load: &Load,
    items: &[T],
    check: impl Fn(&mut Client<'_>, &T) -> Vec<R> + Sync,
) -> Vec<R> {
    let chunk = items.len().div_ceil(VERIFIERS).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(chunk)
            .enumerate()
            .map(|(i, part)| {
                let check = &check;
                scope.spawn(move || {
                    let mut client = Client::new(load, i);
                    part.iter()
                        .flat_map(|item| check(&mut client, item))
                        .collect::<Vec<R>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    })
}
