//! The revocation log's pages, as [`Database::read_revocations`] returns
//! them from the rows of `tessera_revocation`.
//!
//! On PostgreSQL a number is taken from the sequence when an insert starts
//! and becomes visible when it commits, so concurrent appends can commit
//! out of order: a reader may see entry 8 while entry 7 is still in flight.
//! A page reports such a gap in [`RevocationPage::missing`], and the reader
//! asks for those numbers again on its next read. On SQLite writes are
//! serialised and gaps come only from removed rows; reporting them costs a
//! reader one more lookup.
//!
//! [`Database::read_revocations`]: tessera::store::Database::read_revocations

use tessera::store::{RevocationPage, StoreError};

/// The most numbers one page reports missing: the highest ones, as the
/// kernel's follower keeps at most this many and drops the lowest. Gaps in
/// flight are as wide as the number of concurrent appends; a wider one
/// (rows removed by hand, a sequence moved on) must not cost a reader a
/// vector as long as the gap.
pub(crate) const MAX_MISSING: usize = 4_096;

/// One row of `tessera_revocation`: `("seq", "entry")`.
pub(crate) type Row = (i64, String);

/// `after` as a bound for `"seq"`: past `i64::MAX` nothing follows.
pub(crate) fn seq_bound(after: u64) -> i64 {
    i64::try_from(after).unwrap_or(i64::MAX)
}

/// The numbers of `missing` worth asking for again: those up to `after`
/// (later ones are read with what follows `after`), as `"seq"` values.
pub(crate) fn asked_again(after: u64, missing: &[u64]) -> Vec<i64> {
    missing
        .iter()
        .filter(|&&n| n <= after)
        .filter_map(|&n| i64::try_from(n).ok())
        .collect()
}

/// The page for a read past `after` with at most `limit` rows: `found`
/// are the rows of numbers asked for again (all up to `after`), `rows`
/// those past `after`, both ascending.
pub(crate) fn page(
    after: u64,
    limit: usize,
    found: Vec<Row>,
    rows: Vec<Row>,
) -> Result<RevocationPage, StoreError> {
    let more = limit > 0 && rows.len() >= limit;
    let found = numbered(found)?;
    let rows = numbered(rows)?;
    let numbers: Vec<u64> = rows.iter().map(|(n, _)| *n).collect();
    let missing = gaps(after, &numbers);
    let read_to = numbers.last().copied().unwrap_or(after);
    let mut entries = found;
    entries.extend(rows);
    Ok(RevocationPage::new(entries, missing, read_to, more))
}

fn numbered(rows: Vec<Row>) -> Result<Vec<(u64, String)>, StoreError> {
    rows.into_iter()
        .map(|(n, entry)| Ok((u64::try_from(n).map_err(StoreError::backend)?, entry)))
        .collect()
}

/// The numbers without a row strictly between consecutive `numbers`
/// (ascending), and between `after` and the first of them unless `after`
/// is 0: a new reader has nothing before the first row to ask for. At most
/// [`MAX_MISSING`], the highest.
fn gaps(after: u64, numbers: &[u64]) -> Vec<u64> {
    let cap = MAX_MISSING as u64;
    let mut missing = Vec::new();
    let mut previous = (after > 0).then_some(after);
    for &n in numbers {
        if let Some(p) = previous.filter(|&p| p < n) {
            missing.extend(p.saturating_add(1).max(n.saturating_sub(cap))..n);
            if missing.len() > MAX_MISSING {
                missing.drain(..missing.len() - MAX_MISSING);
            }
        }
        previous = Some(n);
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(numbers: &[i64]) -> Vec<Row> {
        numbers.iter().map(|&n| (n, format!("e{n}"))).collect()
    }

    #[test]
    fn a_gap_between_rows_is_missing_and_so_is_one_after_the_position() {
        assert_eq!(
            gaps(0, &[3, 4, 7]),
            [5, 6],
            "nothing before a new reader's first row"
        );
        assert_eq!(gaps(1, &[3, 4, 7]), [2, 5, 6]);
        assert_eq!(gaps(4, &[5, 6]), Vec::<u64>::new());
        assert_eq!(gaps(9, &[]), Vec::<u64>::new());
    }

    #[test]
    fn a_wide_gap_reports_only_its_highest_numbers() {
        let missing = gaps(1, &[2, 1_000_000]);
        assert_eq!(missing.len(), MAX_MISSING);
        assert_eq!(missing.first(), Some(&(1_000_000 - MAX_MISSING as u64)));
        assert_eq!(missing.last(), Some(&999_999));
        let missing = gaps(1, &[5_000, 5_002, 10_000]);
        assert_eq!(missing.len(), MAX_MISSING);
        assert_eq!(missing.last(), Some(&9_999));
    }

    #[test]
    fn a_page_reads_to_its_last_row_and_is_full_at_the_limit() {
        let p = page(2, 2, rows(&[1]), rows(&[3, 5])).unwrap();
        let numbers: Vec<u64> = p.entries.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, [1, 3, 5]);
        assert_eq!(p.missing, [4]);
        assert_eq!((p.read_to, p.more), (5, true));
        let empty = page(7, 2, Vec::new(), Vec::new()).unwrap();
        assert_eq!((empty.read_to, empty.more), (7, false));
        assert!(empty.entries.is_empty() && empty.missing.is_empty());
    }

    #[test]
    fn only_numbers_up_to_the_position_are_asked_for_again() {
        assert_eq!(asked_again(5, &[2, 5, 6, u64::MAX]), [2, 5]);
        assert_eq!(seq_bound(u64::MAX), i64::MAX);
    }

    #[test]
    fn a_negative_number_is_a_backend_error() {
        assert!(matches!(
            page(0, 10, Vec::new(), rows(&[-1])),
            Err(StoreError::Backend(_))
        ));
    }
}
