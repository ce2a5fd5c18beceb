//! rapidfuzz's `fuzz.WRatio` and `process.extractOne` (rapidfuzz 3.x, `processor=None`),
//! implemented here from rapidfuzz's documented algorithm and its pure-Python fallback
//! (`rapidfuzz/fuzz_py.py`): the `rapidfuzz` crate (0.5) only offers `ratio`. Strings are compared
//! as sequences of code points, like Python `str`. Checked against rapidfuzz 3.14 by the goldens.
//!
//! One known difference: for needles longer than 64 code points rapidfuzz's C++ `partial_ratio`
//! switches to a block-based search; this module always uses the exhaustive window search of the
//! short-needle path. Class names are far shorter, so the eval matching is unaffected.

use crate::pychar;
use std::collections::BTreeSet;

/// Length of the longest common subsequence, O(|a|·|b|) with one row.
fn lcs(a: &[char], b: &[char]) -> usize {
    let (a, b) = if a.len() < b.len() { (b, a) } else { (a, b) };
    let mut row = vec![0usize; b.len() + 1];
    for &ca in a {
        let mut diag = 0;
        for (j, &cb) in b.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = if ca == cb { diag + 1 } else { up.max(row[j]) };
            diag = up;
        }
    }
    row[b.len()]
}

/// Normalised Indel similarity in [0, 1], computed as `1 - dist / lensum` like rapidfuzz.
fn indel_sim(a: &[char], b: &[char]) -> f64 {
    let lensum = a.len() + b.len();
    if lensum == 0 {
        return 1.0;
    }
    let dist = lensum - 2 * lcs(a, b);
    1.0 - dist as f64 / lensum as f64
}

/// `fuzz.ratio`.
pub fn ratio(a: &[char], b: &[char]) -> f64 {
    indel_sim(a, b) * 100.0
}

/// `_partial_ratio_impl` for `s1` no longer than `s2`: the best ratio of `s1` against the prefixes,
/// full-length windows and suffixes of `s2`, skipping windows whose new edge character does not
/// occur in `s1` (those can never score higher than a neighbour).
fn partial_impl(s1: &[char], s2: &[char]) -> f64 {
    let set: BTreeSet<char> = s1.iter().copied().collect();
    let (len1, len2) = (s1.len(), s2.len());
    let mut best = 0.0;
    let mut consider = |w: &[char]| {
        let r = indel_sim(s1, w);
        if r > best {
            best = r;
        }
        best == 1.0
    };
    for i in 1..len1 {
        if set.contains(&s2[i - 1]) && consider(&s2[..i]) {
            return 100.0;
        }
    }
    for i in 0..len2 - len1 {
        if set.contains(&s2[i + len1 - 1]) && consider(&s2[i..i + len1]) {
            return 100.0;
        }
    }
    for i in len2 - len1..len2 {
        if set.contains(&s2[i]) && consider(&s2[i..]) {
            return 100.0;
        }
    }
    best * 100.0
}

/// `fuzz.partial_ratio`.
pub fn partial_ratio(s1: &[char], s2: &[char]) -> f64 {
    if s1.is_empty() || s2.is_empty() {
        return if s1.len() == s2.len() { 100.0 } else { 0.0 };
    }
    let (short, long) = if s1.len() <= s2.len() { (s1, s2) } else { (s2, s1) };
    let mut res = partial_impl(short, long);
    if res != 100.0 && s1.len() == s2.len() {
        res = res.max(partial_impl(long, short));
    }
    res
}

fn chars(s: &str) -> Vec<char> {
    s.chars().collect()
}

fn joined<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Vec<char> {
    chars(&tokens.into_iter().collect::<Vec<_>>().join(" "))
}

fn sorted_tokens(s: &str) -> Vec<&str> {
    let mut t: Vec<&str> = pychar::split(s).collect();
    t.sort_unstable();
    t
}

/// `100 - 100 * dist / lensum`, the form rapidfuzz's token functions use.
fn norm_distance(dist: usize, lensum: usize) -> f64 {
    if lensum == 0 {
        100.0
    } else {
        100.0 - 100.0 * dist as f64 / lensum as f64
    }
}

/// `fuzz.token_set_ratio`.
fn token_set_ratio(s1: &str, s2: &str) -> f64 {
    let a: BTreeSet<&str> = pychar::split(s1).collect();
    let b: BTreeSet<&str> = pychar::split(s2).collect();
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let sect: Vec<&str> = a.intersection(&b).copied().collect();
    let ab: Vec<&str> = a.difference(&b).copied().collect();
    let ba: Vec<&str> = b.difference(&a).copied().collect();
    if !sect.is_empty() && (ab.is_empty() || ba.is_empty()) {
        return 100.0;
    }
    let (ab, ba) = (joined(ab), joined(ba));
    let sect_len = joined(sect).len();
    let sep = usize::from(sect_len != 0);
    let sect_ab_len = sect_len + sep + ab.len();
    let sect_ba_len = sect_len + sep + ba.len();
    let dist = ab.len() + ba.len() - 2 * lcs(&ab, &ba);
    let result = norm_distance(dist, sect_ab_len + sect_ba_len);
    if sect_len == 0 {
        return result;
    }
    let sect_ab = norm_distance(sep + ab.len(), sect_len + sect_ab_len);
    let sect_ba = norm_distance(sep + ba.len(), sect_len + sect_ba_len);
    result.max(sect_ab).max(sect_ba)
}

/// `fuzz.token_ratio` = max(token_set_ratio, token_sort_ratio).
fn token_ratio(s1: &str, s2: &str) -> f64 {
    let sort = ratio(&joined(sorted_tokens(s1)), &joined(sorted_tokens(s2)));
    token_set_ratio(s1, s2).max(sort)
}

/// `fuzz.partial_token_ratio`.
fn partial_token_ratio(s1: &str, s2: &str) -> f64 {
    let split_a = sorted_tokens(s1);
    let split_b = sorted_tokens(s2);
    let a: BTreeSet<&str> = split_a.iter().copied().collect();
    let b: BTreeSet<&str> = split_b.iter().copied().collect();
    if a.intersection(&b).next().is_some() {
        return 100.0;
    }
    let result = partial_ratio(&joined(split_a.iter().copied()), &joined(split_b.iter().copied()));
    // Without repeated words the sets give the same strings again.
    if split_a.len() == a.len() && split_b.len() == b.len() {
        return result;
    }
    result.max(partial_ratio(&joined(a), &joined(b)))
}

/// `fuzz.WRatio(s1, s2)` in [0, 100].
pub fn wratio(s1: &str, s2: &str) -> f64 {
    const UNBASE_SCALE: f64 = 0.95;
    let (c1, c2) = (chars(s1), chars(s2));
    if c1.is_empty() || c2.is_empty() {
        return 0.0;
    }
    let (len1, len2) = (c1.len() as f64, c2.len() as f64);
    let len_ratio = if len1 > len2 { len1 / len2 } else { len2 / len1 };
    let end_ratio = ratio(&c1, &c2);
    if len_ratio < 1.5 {
        return end_ratio.max(token_ratio(s1, s2) * UNBASE_SCALE);
    }
    let partial_scale = if len_ratio <= 8.0 { 0.9 } else { 0.6 };
    let end_ratio = end_ratio.max(partial_ratio(&c1, &c2) * partial_scale);
    end_ratio.max(partial_token_ratio(s1, s2) * UNBASE_SCALE * partial_scale)
}

/// `process.extractOne(query, choices)` with WRatio and no cut-off: the index and score of the
/// first choice with the highest score (`None` only when there are no choices).
pub fn extract_one<'a>(query: &str, choices: impl IntoIterator<Item = &'a str>) -> Option<(usize, f64)> {
    let mut best: Option<(usize, f64)> = None;
    for (i, c) in choices.into_iter().enumerate() {
        let score = wratio(query, c);
        if best.is_none_or(|(_, b)| score > b) {
            best = Some((i, score));
            if score == 100.0 {
                break;
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rapidfuzz_documented_values() {
        // Examples from rapidfuzz's documentation.
        assert!((ratio(&chars("this is a test"), &chars("this is a test!")) - 96.55172413793103).abs() < 1e-9);
        assert_eq!(partial_ratio(&chars("this is a test"), &chars("this is a test!")), 100.0);
        assert!((wratio("this is a test", "this is a new test!!!") - 85.5).abs() < 1e-9);
        assert_eq!(wratio("", "plane"), 0.0);
    }

    #[test]
    fn first_choice_wins_ties() {
        assert_eq!(extract_one("zzz", ["plane", "ship"]), Some((0, 0.0)));
        assert_eq!(extract_one("planes", ["ship", "plane"]).map(|r| r.0), Some(1));
    }
}
