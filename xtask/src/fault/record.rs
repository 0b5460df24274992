//! What a run records: every exchange with a server, every look at a
//! revoked session, every fault's instants. Times are offsets from the
//! run's start, so the records compare without a clock.

use std::time::Duration;

/// One of the two `tessera serve` processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Target {
    /// Runs throughout.
    A,
    /// Killed and restarted mid-run.
    B,
}

impl Target {
    pub(super) const BOTH: [Target; 2] = [Target::A, Target::B];

    pub(super) fn other(self) -> Target {
        match self {
            Target::A => Target::B,
            Target::B => Target::A,
        }
    }

    pub(super) fn label(self) -> &'static str {
        match self {
            Target::A => "A",
            Target::B => "B",
        }
    }

    pub(super) fn index(self) -> usize {
        match self {
            Target::A => 0,
            Target::B => 1,
        }
    }
}

/// What a request asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Endpoint {
    SignUp,
    SignIn,
    /// `GET /get-session`: with the `jwe` cookie cache, usually a hit.
    GetSession,
    /// `GET /get-session?disableCookieCache=true`: always reads the
    /// session store (Redis).
    GetSessionFromStore,
    /// `GET /list-accounts`: reads the database (PostgreSQL).
    ListAccounts,
    RevokeSession,
    SignOut,
    RevokeOtherSessions,
    /// `POST /sign-in/email` of the write probe (`--cluster`): writes its
    /// user's session index, on the master being faulted.
    SignInProbe,
    /// `POST /sign-out` of the write probe's new session.
    SignOutProbe,
}

impl Endpoint {
    pub(super) const ALL: [Endpoint; 10] = [
        Endpoint::SignUp,
        Endpoint::SignIn,
        Endpoint::GetSession,
        Endpoint::RevokeSession,
        Endpoint::SignOut,
        Endpoint::RevokeOtherSessions,
        Endpoint::GetSessionFromStore,
        Endpoint::ListAccounts,
        Endpoint::SignInProbe,
        Endpoint::SignOutProbe,
    ];

    pub(super) fn label(self) -> &'static str {
        match self {
            Endpoint::SignUp => "sign-up",
            Endpoint::SignIn => "sign-in",
            Endpoint::GetSession => "get-session (cookie cache on)",
            Endpoint::GetSessionFromStore => "get-session?disableCookieCache=true (probe)",
            Endpoint::ListAccounts => "list-accounts (probe)",
            Endpoint::RevokeSession => "revoke-session",
            Endpoint::SignOut => "sign-out",
            Endpoint::RevokeOtherSessions => "revoke-other-sessions",
            Endpoint::SignInProbe => "sign-in (write probe)",
            Endpoint::SignOutProbe => "sign-out (write probe)",
        }
    }
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// An HTTP response with this status.
    Status(u16),
    /// Refused, reset or closed before a response.
    ConnectionFailed,
    /// No response within the client's timeout.
    TimedOut,
    /// Bytes that were not an HTTP response.
    Malformed,
}

/// The classes a response is counted in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Class {
    Success,
    ClientError,
    /// 503: the store is away, the client keeps its cookies.
    Unavailable,
    /// Any other status, or a malformed response.
    Other,
    Connection,
}

impl Outcome {
    pub(super) fn class(self) -> Class {
        match self {
            Outcome::Status(200..=299) => Class::Success,
            Outcome::Status(400..=499) => Class::ClientError,
            Outcome::Status(503) => Class::Unavailable,
            Outcome::Status(_) | Outcome::Malformed => Class::Other,
            Outcome::ConnectionFailed | Outcome::TimedOut => Class::Connection,
        }
    }

    pub(super) fn describe(self) -> String {
        match self {
            Outcome::Status(status) => status.to_string(),
            Outcome::ConnectionFailed => "connection failed".to_owned(),
            Outcome::TimedOut => "no answer in time".to_owned(),
            Outcome::Malformed => "malformed response".to_owned(),
        }
    }
}

/// One request and how it ended.
#[derive(Clone, Debug)]
pub(super) struct Exchange {
    pub(super) target: Target,
    pub(super) endpoint: Endpoint,
    pub(super) sent: Duration,
    /// When the response (or the failure) came.
    pub(super) received: Duration,
    pub(super) outcome: Outcome,
}

/// A get-session with the cookies of a session whose revocation a client
/// had seen confirmed.
#[derive(Clone, Copy, Debug)]
pub(super) struct RevokedCheck {
    pub(super) target: Target,
    /// When the revocation's 200 came back.
    pub(super) revoked_at: Duration,
    pub(super) sent: Duration,
    /// The answer was a session.
    pub(super) accepted: bool,
}

/// A fault injected into the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fault {
    /// `SIGSTOP` to Redis, `SIGCONT` later: connections hang.
    RedisFrozen,
    /// `pg_ctlcluster … restart`.
    PostgresRestarted,
    /// `SIGKILL` to process B, started again on its port.
    ProcessKilled,
    /// `SIGKILL` to Redis, started again on its port from its append-only file.
    RedisKilled,
    /// `--cluster`: `SIGSTOP` to a master, until its replica has taken over.
    MasterFrozen,
    /// Then, until the frozen master (`SIGCONT`) is a caught-up replica of
    /// its successor: the new master has no replica, so writes to its
    /// slots cannot be confirmed.
    FrozenMasterAway,
    /// `--cluster`: `SIGKILL` to a master, until its replica has taken over.
    MasterKilled,
    /// Then, until the killed master, started again, is a caught-up
    /// replica of its successor.
    KilledMasterAway,
}

impl Fault {
    pub(super) fn label(self) -> &'static str {
        match self {
            Fault::RedisFrozen => "Redis frozen (SIGSTOP)",
            Fault::PostgresRestarted => "PostgreSQL restarted",
            Fault::ProcessKilled => "B killed (SIGKILL)",
            Fault::RedisKilled => "Redis killed (SIGKILL)",
            Fault::MasterFrozen => "a master frozen (SIGSTOP), until failover",
            Fault::FrozenMasterAway => {
                "its slots without a replica, until the frozen master rejoins"
            }
            Fault::MasterKilled => "a master killed (SIGKILL), until failover",
            Fault::KilledMasterAway => {
                "its slots without a replica, until the killed master rejoins"
            }
        }
    }

    /// The request that shows the faulted service is back: a session read
    /// from Redis, or a read from PostgreSQL (get-session reads only Redis,
    /// where the sessions live). After a failover reads work again; writes
    /// to the failed master's slots only once it rejoined as a replica.
    pub(super) fn recovery_endpoint(self) -> Endpoint {
        match self {
            Fault::PostgresRestarted => Endpoint::ListAccounts,
            Fault::RedisFrozen
            | Fault::ProcessKilled
            | Fault::RedisKilled
            | Fault::MasterFrozen
            | Fault::MasterKilled => Endpoint::GetSessionFromStore,
            Fault::FrozenMasterAway | Fault::KilledMasterAway => Endpoint::SignInProbe,
        }
    }

    /// The phase that follows a master's failover, until it rejoins.
    pub(super) fn master_away(self) -> Option<Fault> {
        match self {
            Fault::MasterFrozen => Some(Fault::FrozenMasterAway),
            Fault::MasterKilled => Some(Fault::KilledMasterAway),
            _ => None,
        }
    }
}

/// A fault's instants, as the run saw them.
#[derive(Clone, Debug)]
pub(super) struct FaultWindow {
    pub(super) fault: Fault,
    pub(super) began: Duration,
    /// When the service was back: `SIGCONT` sent, `pg_isready` answered,
    /// B printed its listening line, Redis answered `PING`; with
    /// `--cluster`, the failover done, then the old master rejoined.
    pub(super) returned: Duration,
    /// What happened in between, for the report.
    pub(super) detail: String,
}

/// The answer to one confirmed, unrevoked session at the end of the run.
#[derive(Clone, Copy, Debug)]
pub(super) struct LiveCheck {
    pub(super) target: Target,
    pub(super) outcome: Outcome,
    /// The answer was a session.
    pub(super) answered: bool,
}
