//! The revocation log (`tessera_revocation`) through the kernel's
//! `Database` calls, on SQLite and PostgreSQL: entries numbered in order,
//! read page by page, kept until their time and then removed by the next
//! append; gaps in the numbering reported so that a reader comes back for
//! an entry committed late, and no entry lost to concurrent appends.
//!
//! The kernel-level behaviour (a sign-out on one `Auth` reaching another's
//! cookie-cache hits) is in `tests/auth.rs`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use tessera::store::{RevocationPage, StoreError};
use tessera_sql::sqlx::{self, Connection, Executor, Row};
use tessera_sql::SqlDatabase;

const MINUTE: Duration = Duration::from_secs(60);

fn entry(n: usize) -> String {
    format!(r#"{{"session":"s{n}","at":{T0}}}"#)
}

fn numbers(page: &RevocationPage) -> Vec<u64> {
    page.entries.iter().map(|(n, _)| *n).collect()
}

/// Runs `sql` on the database with SQL of its own (not through the trait).
async fn execute(db: &SqlDatabase, sql: &str) {
    match (db.sqlite_pool(), db.postgres_pool()) {
        (Some(pool), _) => drop(sqlx::query(sql).execute(pool).await.unwrap()),
        (_, Some(pool)) => drop(sqlx::query(sql).execute(pool).await.unwrap()),
        _ => unreachable!(),
    }
}

/// The numbers of the rows in `tessera_revocation`, read with SQL.
async fn stored(db: &SqlDatabase) -> Vec<i64> {
    const SQL: &str = r#"select "seq" from "tessera_revocation" order by "seq""#;
    match (db.sqlite_pool(), db.postgres_pool()) {
        (Some(pool), _) => sqlx::query_scalar(SQL).fetch_all(pool).await.unwrap(),
        (_, Some(pool)) => sqlx::query_scalar(SQL).fetch_all(pool).await.unwrap(),
        _ => unreachable!(),
    }
}

/// Runs `$check` on a fresh migrated SQLite file, and on a fresh
/// PostgreSQL schema (skipped loudly without a server, failed under CI).
macro_rules! on_both {
    ($sqlite:ident, $postgres:ident, $check:ident) => {
        #[tokio::test]
        async fn $sqlite() {
            $check(sqlite().await).await;
        }

        #[tokio::test]
        async fn $postgres() {
            let Some(fixture) = postgres().await else {
                return;
            };
            $check(fixture).await;
        }
    };
}

async fn entries_are_numbered_and_read_in_pages(fixture: Fixture) {
    let db = fixture.db.as_ref();
    assert!(db.has_revocation_log(), "{}", fixture.label);
    let mut appended = Vec::new();
    for i in 1..=3 {
        appended.push(
            db.append_revocation(&entry(i), at(0), MINUTE)
                .await
                .unwrap(),
        );
    }
    assert_eq!(appended, [1, 2, 3], "{}", fixture.label);

    let all = db.read_revocations(0, &[], 100).await.unwrap();
    assert_eq!(
        all,
        RevocationPage::new(
            vec![(1, entry(1)), (2, entry(2)), (3, entry(3))],
            Vec::new(),
            3,
            false
        ),
        "{}",
        fixture.label
    );

    let first = db.read_revocations(0, &[], 2).await.unwrap();
    assert_eq!(numbers(&first), [1, 2]);
    assert_eq!((first.read_to, first.more), (2, true), "a full page");
    let rest = db.read_revocations(first.read_to, &[], 2).await.unwrap();
    assert_eq!(numbers(&rest), [3]);
    assert_eq!((rest.read_to, rest.more), (3, false));

    let nothing = db.read_revocations(3, &[], 100).await.unwrap();
    assert_eq!(
        nothing,
        RevocationPage::new(Vec::new(), Vec::new(), 3, false)
    );
}

on_both!(
    sqlite_entries_are_numbered_and_read_in_pages,
    postgres_entries_are_numbered_and_read_in_pages,
    entries_are_numbered_and_read_in_pages
);

async fn expired_entries_are_removed_by_the_next_append(fixture: Fixture) {
    let db = fixture.db.as_ref();
    let sql = fixture.sql.as_ref().unwrap();
    // Kept until T0 + 1 s, and until T0 + 1 min.
    db.append_revocation(&entry(1), at(0), Duration::from_secs(1))
        .await
        .unwrap();
    db.append_revocation(&entry(2), at(0), MINUTE)
        .await
        .unwrap();
    // At its time to the millisecond the first is still kept...
    db.append_revocation(&entry(3), at(1_000), MINUTE)
        .await
        .unwrap();
    assert_eq!(stored(sql).await, [1, 2, 3], "{}", fixture.label);
    // ...and one millisecond later the next append removes it.
    db.append_revocation(&entry(4), at(1_001), MINUTE)
        .await
        .unwrap();
    assert_eq!(stored(sql).await, [2, 3, 4], "{}", fixture.label);

    // A new reader starts at the oldest entry kept, with nothing missing
    // before it; one that had read entry 1 goes on from there.
    let new_reader = db.read_revocations(0, &[], 100).await.unwrap();
    assert_eq!(numbers(&new_reader), [2, 3, 4]);
    assert!(new_reader.missing.is_empty(), "{new_reader:?}");
    assert_eq!(new_reader.read_to, 4);
    let follower = db.read_revocations(1, &[], 100).await.unwrap();
    assert_eq!(numbers(&follower), [2, 3, 4]);
    assert!(follower.missing.is_empty(), "{follower:?}");

    // Everything expired: the log is empty, and numbering goes on.
    db.append_revocation(&entry(5), at(3_600_000), MINUTE)
        .await
        .unwrap();
    assert_eq!(stored(sql).await, [5], "{}", fixture.label);
    let page = db.read_revocations(4, &[], 100).await.unwrap();
    assert_eq!(page.entries, [(5, entry(5))]);
}

on_both!(
    sqlite_expired_entries_are_removed_by_the_next_append,
    postgres_expired_entries_are_removed_by_the_next_append,
    expired_entries_are_removed_by_the_next_append
);

async fn numbers_asked_for_again_are_returned_when_they_exist(fixture: Fixture) {
    let db = fixture.db.as_ref();
    for i in 1..=3 {
        db.append_revocation(&entry(i), at(0), MINUTE)
            .await
            .unwrap();
    }
    let again = db.read_revocations(3, &[2, 1], 100).await.unwrap();
    assert_eq!(
        again,
        RevocationPage::new(vec![(1, entry(1)), (2, entry(2))], Vec::new(), 3, false),
        "{}",
        fixture.label
    );

    // With what follows the position, in order.
    db.append_revocation(&entry(4), at(0), MINUTE)
        .await
        .unwrap();
    let page = db.read_revocations(3, &[2], 100).await.unwrap();
    assert_eq!(numbers(&page), [2, 4]);
    assert_eq!((page.read_to, page.more), (4, false));
    // The page limit counts only what follows the position.
    let page = db.read_revocations(3, &[1, 2], 1).await.unwrap();
    assert_eq!(numbers(&page), [1, 2, 4]);
    assert_eq!((page.read_to, page.more), (4, true));
}

on_both!(
    sqlite_numbers_asked_for_again_are_returned_when_they_exist,
    postgres_numbers_asked_for_again_are_returned_when_they_exist,
    numbers_asked_for_again_are_returned_when_they_exist
);

async fn a_gap_is_reported_missing_once_and_numbers_are_never_reused(fixture: Fixture) {
    let db = fixture.db.as_ref();
    let sql = fixture.sql.as_ref().unwrap();
    for i in 1..=4 {
        db.append_revocation(&entry(i), at(0), MINUTE)
            .await
            .unwrap();
    }
    execute(sql, r#"delete from "tessera_revocation" where "seq" = 2"#).await;

    let page = db.read_revocations(0, &[], 100).await.unwrap();
    assert_eq!(numbers(&page), [1, 3, 4], "{}", fixture.label);
    assert_eq!(page.missing, [2], "between two rows");
    assert_eq!(page.read_to, 4);
    let page = db.read_revocations(1, &[], 100).await.unwrap();
    assert_eq!(numbers(&page), [3, 4]);
    assert_eq!(page.missing, [2], "between the position and the first row");

    // Asked for again and still absent: not reported again (the reader
    // keeps it until its grace passes).
    let page = db.read_revocations(4, &[2], 100).await.unwrap();
    assert_eq!(page, RevocationPage::new(Vec::new(), Vec::new(), 4, false));

    // A new reader has nothing before the first row to ask for.
    execute(sql, r#"delete from "tessera_revocation" where "seq" = 1"#).await;
    let page = db.read_revocations(0, &[], 100).await.unwrap();
    assert_eq!(numbers(&page), [3, 4]);
    assert!(page.missing.is_empty(), "{page:?}");

    // With the newest row gone, the next append still takes a new number:
    // a reader at 4 would otherwise never see it.
    execute(sql, r#"delete from "tessera_revocation" where "seq" = 4"#).await;
    let n = db
        .append_revocation(&entry(5), at(0), MINUTE)
        .await
        .unwrap();
    assert_eq!(n, 5, "{}", fixture.label);
    let page = db.read_revocations(4, &[], 100).await.unwrap();
    assert_eq!(page.entries, [(5, entry(5))]);
}

on_both!(
    sqlite_a_gap_is_reported_missing_once_and_numbers_are_never_reused,
    postgres_a_gap_is_reported_missing_once_and_numbers_are_never_reused,
    a_gap_is_reported_missing_once_and_numbers_are_never_reused
);

/// On PostgreSQL an insert takes its number when it starts and shows it
/// when it commits: a later append that commits first leaves a gap, which
/// is reported, and the entry is read once it commits.
#[tokio::test]
async fn postgres_an_entry_committed_late_is_read_when_asked_for_again() {
    let Some((schema, options)) = postgres_schema().await else {
        return;
    };
    let db = SqlDatabase::connect_postgres(options.clone())
        .await
        .unwrap();
    let fixture = postgres_fixture(schema, db.clone());
    db.migrate().await.unwrap();
    let log = fixture.db.as_ref();
    assert_eq!(
        log.append_revocation(&entry(1), at(0), MINUTE)
            .await
            .unwrap(),
        1
    );

    // Another process's append, in flight: number 2 taken, not committed.
    let mut writer = sqlx::PgConnection::connect_with(&options).await.unwrap();
    writer.execute("begin").await.unwrap();
    let late: i64 = sqlx::query(
        r#"insert into "tessera_revocation" ("entry", "expiresAt") values ($1, $2) returning "seq""#,
    )
    .bind(entry(2))
    .bind(at(60_000).as_millis())
    .fetch_one(&mut writer)
    .await
    .unwrap()
    .get(0);
    assert_eq!(late, 2);
    assert_eq!(
        log.append_revocation(&entry(3), at(0), MINUTE)
            .await
            .unwrap(),
        3
    );

    let page = log.read_revocations(1, &[], 100).await.unwrap();
    assert_eq!(numbers(&page), [3]);
    assert_eq!(page.missing, [2], "taken, not yet visible");
    assert_eq!(page.read_to, 3);
    let page = log.read_revocations(3, &[2], 100).await.unwrap();
    assert!(
        page.entries.is_empty() && page.missing.is_empty(),
        "{page:?}"
    );

    writer.execute("commit").await.unwrap();
    let page = log.read_revocations(3, &[2], 100).await.unwrap();
    assert_eq!(
        page,
        RevocationPage::new(vec![(2, entry(2))], Vec::new(), 3, false)
    );
    writer.close().await.unwrap();
}

/// 8 writers append 50 entries each while a reader follows the log as the
/// kernel's follower does (its position, plus the numbers reported missing
/// until they are returned): every entry is read, exactly once.
async fn concurrent_appends_are_all_read(fixture: Fixture) {
    const WRITERS: usize = 8;
    const EACH: usize = 50;
    let db = Arc::clone(&fixture.db);
    // A reader that starts at 0 has nothing before the first row to ask
    // for, so it reads once before the writers start.
    db.append_revocation("seed", at(0), MINUTE).await.unwrap();
    let first = db.read_revocations(0, &[], 100).await.unwrap();
    assert_eq!(first.entries, [(1, "seed".to_owned())]);

    let finished = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let db = Arc::clone(&db);
            let finished = Arc::clone(&finished);
            tokio::spawn(async move {
                for i in 0..EACH {
                    let entry = format!(r#"{{"session":"w{w}-{i}","at":{T0}}}"#);
                    db.append_revocation(&entry, at(0), MINUTE).await.unwrap();
                }
                finished.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();

    let mut position = first.read_to;
    let mut missing = BTreeSet::new();
    let mut seen = BTreeMap::new();
    let mut reads = 0;
    let mut gaps = 0;
    let mut deadline = None;
    loop {
        let asked: Vec<u64> = missing.iter().copied().collect();
        let page = db.read_revocations(position, &asked, 100).await.unwrap();
        reads += 1;
        assert!(page.read_to >= position, "{page:?}");
        let page_numbers = numbers(&page);
        assert!(
            page_numbers.windows(2).all(|w| w[0] < w[1]),
            "ascending: {page_numbers:?}"
        );
        for (n, entry) in page.entries {
            missing.remove(&n);
            assert!(seen.insert(n, entry).is_none(), "{n} returned twice");
        }
        gaps += page.missing.len();
        missing.extend(page.missing);
        position = page.read_to;
        if finished.load(Ordering::SeqCst) == WRITERS {
            if seen.len() == WRITERS * EACH && missing.is_empty() {
                break;
            }
            // A timeout, so that a lost entry fails the test rather than
            // hanging it.
            let deadline = *deadline.get_or_insert_with(|| std::time::Instant::now() + MINUTE / 6);
            assert!(
                std::time::Instant::now() < deadline,
                "{}: read {} of {} entries; missing {missing:?}; position {position}",
                fixture.label,
                seen.len(),
                WRITERS * EACH
            );
        }
        tokio::task::yield_now().await;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let expected: BTreeSet<String> = (0..WRITERS)
        .flat_map(|w| (0..EACH).map(move |i| format!(r#"{{"session":"w{w}-{i}","at":{T0}}}"#)))
        .collect();
    let read: BTreeSet<String> = seen.into_values().collect();
    assert_eq!(read, expected, "{}", fixture.label);
    // For the log: how hard the reader was pushed.
    eprintln!(
        "{}: {} entries in {reads} reads, {gaps} numbers reported missing on the way",
        fixture.label,
        WRITERS * EACH
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_appends_are_all_read() {
    concurrent_appends_are_all_read(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_appends_are_all_read() {
    let Some(fixture) = postgres().await else {
        return;
    };
    concurrent_appends_are_all_read(fixture).await;
}

/// A database that is away is `Unavailable`: the kernel fails closed.
#[tokio::test]
async fn a_closed_pool_makes_the_log_unavailable() {
    let fixture = sqlite().await;
    fixture.sql.as_ref().unwrap().close().await;
    let db = fixture.db.as_ref();
    assert!(matches!(
        db.append_revocation(&entry(1), at(0), MINUTE).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        db.read_revocations(0, &[1], 100).await,
        Err(StoreError::Unavailable(_))
    ));
}
