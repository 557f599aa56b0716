//! Small-cell suppression for published tables.
//!
//! A row of a table (one flow, one sector's times, one sender's refusals) that counts fewer
//! than [`MIN_RESIDENTS`] distinct residents is withheld: each of its counts is shown as
//! [`SUPPRESSED`]. A table also shows a total, and a total minus the rows shown would give a
//! single withheld row away, so rows are withheld together (complementary suppression):
//!
//! 1. every row with fewer than five residents is withheld (primary);
//! 2. while the withheld rows are fewer than two, or together count fewer than four more
//!    referrals than there are withheld rows, the smallest row still shown (fewest referrals)
//!    is withheld too (secondary);
//! 3. the total is shown only when it counts at least five residents and the withheld rows
//!    meet the condition of step 2 (or none is withheld).
//!
//! Why step 2's condition: every row counts at least one referral, so from the total a reader
//! learns the withheld rows' sum `R`, and of `k` withheld rows any one holds between 1 and
//! `R - (k - 1)`. With `R >= k + 4` that is at least 1 to 5: subtraction tells no more than the
//! mark does. Withheld rows carry the same mark whichever step withheld them, so a reader
//! cannot tell a secondary row (which may be larger) from a primary one.

/// Rows counting fewer distinct residents than this are withheld.
pub const MIN_RESIDENTS: u64 = 5;

/// How a withheld count is shown (HTML and CSV).
pub const SUPPRESSED: &str = "<5";

/// What the rule needs to know of one row.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RowCounts {
    /// Distinct residents the row counts.
    pub residents: u64,
    /// The row's additive count (what the table's total sums): referrals.
    pub referrals: u64,
}

/// The rule's verdict on one table.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Suppression {
    /// Per row, in the order given: whether it is withheld.
    pub hidden: Vec<bool>,
    /// Whether the table's total may be shown.
    pub total_shown: bool,
}

impl Suppression {
    /// How many rows are withheld.
    pub fn hidden_count(&self) -> usize {
        self.hidden.iter().filter(|h| **h).count()
    }
}

/// Applies the rule to one table's rows; `total_residents` is the distinct residents of the
/// whole table (not the sum of the rows: a resident may be in several).
pub fn suppress(rows: &[RowCounts], total_residents: u64) -> Suppression {
    let mut hidden: Vec<bool> = rows.iter().map(|r| r.residents < MIN_RESIDENTS).collect();
    while hidden.iter().any(|h| *h) && !protected(rows, &hidden) {
        let next = rows
            .iter()
            .enumerate()
            .filter(|(i, _)| !hidden[*i])
            .min_by_key(|(i, r)| (r.referrals, r.residents, *i))
            .map(|(i, _)| i);
        match next {
            Some(i) => hidden[i] = true,
            None => break,
        }
    }
    let total_shown = total_residents >= MIN_RESIDENTS
        && (!hidden.iter().any(|h| *h) || protected(rows, &hidden));
    Suppression {
        hidden,
        total_shown,
    }
}

/// Whether the withheld rows cannot be worked out from the total: at least two, and together
/// at least four referrals more than there are of them.
fn protected(rows: &[RowCounts], hidden: &[bool]) -> bool {
    let (k, sum) = rows
        .iter()
        .zip(hidden)
        .filter(|(_, h)| **h)
        .fold((0u64, 0u64), |(k, s), (r, _)| (k + 1, s + r.referrals));
    k >= 2 && sum >= k + 4
}

/// A count as published: the number, or [`SUPPRESSED`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Published {
    Count(u64),
    Withheld,
}

impl Published {
    /// `count` unless `hidden`.
    pub fn new(count: u64, hidden: bool) -> Self {
        if hidden {
            Self::Withheld
        } else {
            Self::Count(count)
        }
    }

    pub fn count(self) -> Option<u64> {
        match self {
            Self::Count(n) => Some(n),
            Self::Withheld => None,
        }
    }
}

impl std::fmt::Display for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Count(n) => write!(f, "{n}"),
            Self::Withheld => f.write_str(SUPPRESSED),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(counts: &[(u64, u64)]) -> Vec<RowCounts> {
        counts
            .iter()
            .map(|&(residents, referrals)| RowCounts {
                residents,
                referrals,
            })
            .collect()
    }

    /// Every way of giving a withheld row's value from the total and the shown rows: for each
    /// withheld row, the largest value subtraction still allows.
    fn largest_possible(rows: &[RowCounts], s: &Suppression) -> Vec<u64> {
        let total: u64 = rows.iter().map(|r| r.referrals).sum();
        let shown: u64 = rows
            .iter()
            .zip(&s.hidden)
            .filter(|(_, h)| !**h)
            .map(|(r, _)| r.referrals)
            .sum();
        let k = s.hidden_count() as u64;
        let residual = total - shown;
        s.hidden
            .iter()
            .filter(|h| **h)
            .map(|_| residual - (k - 1))
            .collect()
    }

    #[test]
    fn rows_of_five_residents_or_more_are_shown() {
        let r = rows(&[(5, 7), (12, 20), (30, 31)]);
        let s = suppress(&r, 40);
        assert_eq!(s.hidden, vec![false, false, false]);
        assert!(s.total_shown);
    }

    #[test]
    fn a_lone_small_row_takes_the_smallest_other_row_with_it() {
        // The 3-resident row alone would be total minus the rest: the smallest shown row
        // (9 referrals, not the 6-resident row with 12) is withheld too.
        let r = rows(&[(20, 25), (3, 4), (6, 12), (8, 9)]);
        let s = suppress(&r, 35);
        assert_eq!(s.hidden, vec![false, true, false, true]);
        assert!(s.total_shown);
        for most in largest_possible(&r, &s) {
            assert!(
                most >= 5,
                "subtraction pins a withheld row to at most {most}"
            );
        }
    }

    #[test]
    fn two_tiny_rows_are_not_enough_when_their_sum_gives_them_away() {
        // Two withheld rows of one referral each: total minus shown = 2 = both are 1.
        let r = rows(&[(1, 1), (1, 1), (10, 10), (7, 8)]);
        let s = suppress(&r, 19);
        assert_eq!(s.hidden, vec![true, true, false, true]);
        assert!(s.total_shown);
        for most in largest_possible(&r, &s) {
            assert!(most >= 5);
        }
    }

    #[test]
    fn many_small_rows_protect_each_other_when_their_sum_is_large_enough() {
        let r = rows(&[(2, 4), (3, 3), (4, 6), (50, 60)]);
        let s = suppress(&r, 58);
        assert_eq!(s.hidden, vec![true, true, true, false]);
        assert!(s.total_shown);
    }

    #[test]
    fn a_table_too_small_to_protect_withholds_its_total_too() {
        let r = rows(&[(1, 1), (2, 2)]);
        let s = suppress(&r, 3);
        assert_eq!(s.hidden, vec![true, true]);
        assert!(!s.total_shown);
        // One small row alone: withheld, and the total with it (it would be the row).
        let s = suppress(&rows(&[(3, 8)]), 3);
        assert_eq!(s.hidden, vec![true]);
        assert!(!s.total_shown);
        // Few residents in many referrals: the residents decide.
        let s = suppress(&rows(&[(4, 50)]), 4);
        assert!(s.hidden[0] && !s.total_shown);
    }

    #[test]
    fn a_total_of_distinct_residents_under_five_is_withheld_even_with_rows_shown() {
        // Cannot happen with real data (a shown row has five residents), but the rule holds.
        let s = suppress(&rows(&[(5, 5)]), 4);
        assert!(!s.total_shown);
    }

    #[test]
    fn an_empty_table_shows_its_zero_total_only_if_it_counts_five_residents() {
        let s = suppress(&[], 0);
        assert!(s.hidden.is_empty());
        assert!(!s.total_shown);
    }

    #[test]
    fn the_rule_protects_every_table_of_a_systematic_sweep() {
        // Every table of up to four rows with residents 0..=7 and referrals = residents + 0..=2:
        // a withheld row is never pinned below five by subtraction, and a row under five
        // residents is never shown.
        let values: Vec<(u64, u64)> = (0..=7u64)
            .flat_map(|p| (0..=2u64).map(move |extra| (p, (p + extra).max(1))))
            .collect();
        let mut tables = 0;
        for a in &values {
            for b in &values {
                for c in &values {
                    let r = rows(&[*a, *b, *c]);
                    let total_residents = r.iter().map(|x| x.residents).sum();
                    let s = suppress(&r, total_residents);
                    for (row, h) in r.iter().zip(&s.hidden) {
                        assert!(*h || row.residents >= MIN_RESIDENTS, "{r:?}");
                    }
                    if s.total_shown && s.hidden_count() > 0 {
                        for most in largest_possible(&r, &s) {
                            assert!(most >= 5, "{r:?} {s:?}");
                        }
                    }
                    tables += 1;
                }
            }
        }
        assert_eq!(tables, values.len().pow(3));
    }

    #[test]
    fn published_counts_print_the_mark() {
        assert_eq!(Published::new(7, false).to_string(), "7");
        assert_eq!(Published::new(7, true).to_string(), "<5");
        assert_eq!(Published::new(3, true).count(), None);
    }
}
