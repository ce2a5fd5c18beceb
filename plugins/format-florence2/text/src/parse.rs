//! The Florence-2 polygon parser (`parse_description_with_polygons_from_text_and_spans`), written
//! by hand from its regular expressions; every equivalence below follows from the fact that all
//! four token kinds start with `<` and no phrase character is `<`.
//!
//! * chunks: `([^<]+(?:<loc_\d+>|<sep>|<poly>|</poly>){4,})` with `re.findall` = a maximal run of
//!   non-`<` characters followed by a maximal run of at least 4 tokens (backtracking cannot help:
//!   a shorter phrase run would be followed by a non-`<` character, which starts no token);
//! * phrase: `^\s*(.*?)(?=<od>|...|<loc_|<poly>)` on the chunk without a leading `loc_\d+>` = the
//!   text up to the first `<loc_` or `<poly>` token (`<sep>` and `</poly>` are not in the
//!   lookahead, so a chunk starting with `<sep>` keeps it in the phrase), lost when `.` meets a
//!   newline after the leading whitespace;
//! * polygons: `((?:<loc_\d+>)+)(?:<sep>|$)` = a maximal run of loc tokens followed by `<sep>` or
//!   the end of the instance; other runs are skipped whole.

use crate::{drops::Drops, pychar};

/// Loc values that are in no phrase chunk (fewer than 4 tokens after a phrase, no phrase before).
pub const OUTSIDE_CHUNK: &str = "loc value outside any phrase chunk (fewer than 4 tokens, or no text before them)";
/// Whole chunks whose phrase the upstream regex cannot read.
pub const NO_PHRASE: &str =
    "loc value in a chunk without a class phrase (newline in the phrase, or no <loc_/<poly> token)";
/// `<poly>` mode ignores everything between `</poly>` and the next `<poly>`.
pub const OUTSIDE_POLY: &str = "loc value outside <poly>...</poly> in a chunk that has both";
/// Loc runs followed by `<poly>`/`</poly>` instead of `<sep>` or the end of the chunk.
pub const UNTERMINATED_RUN: &str = "loc value in a run not ended by <sep> or the end of the chunk";
/// `if len(_polygon) % 2 == 1: _polygon = _polygon[:-1]`.
pub const ODD_VALUE: &str = "loc value dropped to make the count even";

#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Fix: let a phrase continue across a newline (upstream's `.` stops at `\n` and the chunk is
    /// lost).
    pub phrase_across_newline: bool,
}

/// One instance: the stripped phrase and its polygons as bins (even length; `u64::MAX` stands for
/// a bin too large for 64 bits, where upstream's numpy conversion raises).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    pub label: String,
    pub polygons: Vec<Vec<u64>>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parsed {
    pub instances: Vec<Instance>,
    pub drops: Drops,
    /// `<loc_k>` tokens in the text after removing `<s>`, `</s>`, `<pad>`.
    pub loc_tokens: usize,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Tok {
    Loc(u64),
    Sep,
    Poly,
    EndPoly,
}

/// The token starting at byte `i` (which holds `<`), and the byte after it.
fn token_at(s: &str, i: usize) -> Option<(Tok, usize)> {
    let rest = &s[i..];
    if let Some(digits) = rest.strip_prefix("<loc_") {
        let mut value: u64 = 0;
        let mut len = 0;
        for (k, c) in digits.char_indices() {
            match pychar::digit(c) {
                Some(d) => value = value.saturating_mul(10).saturating_add(d as u64),
                None if c == '>' && k > 0 => {
                    len = k;
                    break;
                }
                None => return None,
            }
        }
        return (len > 0).then_some((Tok::Loc(value), i + 5 + len + 1));
    }
    for (lit, tok) in [("<sep>", Tok::Sep), ("<poly>", Tok::Poly), ("</poly>", Tok::EndPoly)] {
        if rest.starts_with(lit) {
            return Some((tok, i + lit.len()));
        }
    }
    None
}

/// The maximal token run starting at `i`, and the byte after it.
fn tokens_from(s: &str, mut i: usize, out: &mut Vec<Tok>) -> usize {
    while i < s.len() {
        match token_at(s, i) {
            Some((t, end)) => {
                out.push(t);
                i = end;
            }
            None => break,
        }
    }
    i
}

fn count_locs(toks: &[Tok]) -> usize {
    toks.iter().filter(|t| matches!(t, Tok::Loc(_))).count()
}

/// `re.sub(r'^loc_\d+>', '', phrase_text, count=1)`: the byte length of that prefix, or 0.
fn leading_loc_fragment(run: &str) -> usize {
    let Some(rest) = run.strip_prefix("loc_") else { return 0 };
    let digits: usize = rest.chars().take_while(|&c| pychar::digit(c).is_some()).map(char::len_utf8).sum();
    if digits > 0 && rest[digits..].starts_with('>') {
        4 + digits + 1
    } else {
        0
    }
}

/// Parses model output like upstream `post_process_generation(text, '<ROD>', ...)`, in bins.
pub fn parse(text: &str, options: ParseOptions) -> Parsed {
    let text = text.replace("<s>", "").replace("</s>", "").replace("<pad>", "");
    let s = text.as_str();
    let b = s.as_bytes();
    let mut parsed = Parsed::default();
    let mut in_chunks = 0;
    let mut toks: Vec<Tok> = Vec::new();

    let mut pos = 0;
    while pos < b.len() {
        if b[pos] == b'<' {
            if let Some((Tok::Loc(_), _)) = token_at(s, pos) {
                parsed.loc_tokens += 1;
            }
            pos += 1;
            continue;
        }
        let run_end = b[pos..].iter().position(|&c| c == b'<').map_or(b.len(), |k| pos + k);
        toks.clear();
        let end = tokens_from(s, run_end, &mut toks);
        if toks.len() < 4 {
            // No match can start anywhere in this run; the `<` at run_end is looked at next.
            pos = run_end;
            continue;
        }
        let nloc = count_locs(&toks);
        parsed.loc_tokens += nloc;
        in_chunks += nloc;
        match phrase(s, pos, run_end, &toks, options) {
            Some(label) => instances(label, &toks, &mut parsed),
            None => parsed.drops.add(NO_PHRASE, nloc),
        }
        pos = end;
    }
    parsed.drops.add(OUTSIDE_CHUNK, parsed.loc_tokens - in_chunks);
    parsed
}

/// The class phrase of the chunk `s[start..]` whose phrase run ends at `run_end`.
fn phrase(s: &str, start: usize, run_end: usize, toks: &[Tok], options: ParseOptions) -> Option<String> {
    let from = start + leading_loc_fragment(&s[start..run_end]);
    let run = &s[from..run_end];
    let body = run.trim_start_matches(pychar::is_space);
    if !options.phrase_across_newline && body.contains('\n') {
        return None;
    }
    // The lookahead needs a `<loc_` or `<poly>` token; the phrase is everything before it.
    let first = toks.iter().position(|t| matches!(t, Tok::Loc(_) | Tok::Poly))?;
    let mut label = String::from(run);
    let mut i = run_end;
    // The tokens before it (`<sep>`, `</poly>`) belong to the phrase.
    for _ in &toks[..first] {
        let (_, end) = token_at(s, i)?;
        label.push_str(&s[i..end]);
        i = end;
    }
    Some(pychar::strip(&label).to_string())
}

/// Splits a chunk's tokens into `<poly>` instances (when it has both `<poly>` and `</poly>`) or
/// one instance, and reads their polygons.
fn instances(label: String, toks: &[Tok], parsed: &mut Parsed) {
    let has = |t: Tok| toks.contains(&t);
    if has(Tok::Poly) && has(Tok::EndPoly) {
        // `<poly>(.*?)</poly>` with finditer: each `<poly>` up to the next `</poly>`.
        let mut inside = 0;
        let mut i = 0;
        while let Some(open) = toks[i..].iter().position(|&t| t == Tok::Poly).map(|k| i + k) {
            let Some(close) = toks[open + 1..].iter().position(|&t| t == Tok::EndPoly).map(|k| open + 1 + k) else {
                break;
            };
            let content = &toks[open + 1..close];
            inside += count_locs(content);
            push_instance(&label, content, parsed);
            i = close + 1;
        }
        parsed.drops.add(OUTSIDE_POLY, count_locs(toks) - inside);
    } else {
        push_instance(&label, toks, parsed);
    }
}

fn push_instance(label: &str, toks: &[Tok], parsed: &mut Parsed) {
    let mut polygons = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if !matches!(toks[i], Tok::Loc(_)) {
            i += 1;
            continue;
        }
        let j = toks[i..].iter().position(|t| !matches!(t, Tok::Loc(_))).map_or(toks.len(), |k| i + k);
        let run = &toks[i..j];
        if j == toks.len() || toks[j] == Tok::Sep {
            let mut values: Vec<u64> =
                run.iter().filter_map(|t| if let Tok::Loc(v) = t { Some(*v) } else { None }).collect();
            if values.len() % 2 == 1 {
                values.pop();
                parsed.drops.add(ODD_VALUE, 1);
            }
            polygons.push(values);
            i = j + 1;
        } else {
            parsed.drops.add(UNTERMINATED_RUN, run.len());
            i = j;
        }
    }
    if !polygons.is_empty() {
        parsed.instances.push(Instance { label: label.to_string(), polygons });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(p: &Parsed) -> Vec<&str> {
        p.instances.iter().map(|i| i.label.as_str()).collect()
    }

    #[test]
    fn worked_example_v2_and_v1() {
        let v2 = "plane<loc_292><loc_48><loc_292><loc_97><loc_351><loc_97><loc_351><loc_48><sep><loc_175><loc_185><loc_97><loc_195><loc_107><loc_263><loc_185><loc_253>small vehicle<loc_500><loc_500><loc_500><loc_509><loc_519><loc_509><loc_519><loc_500>";
        let p = parse(&format!("<s>{v2}</s><pad>"), ParseOptions::default());
        assert_eq!(labels(&p), ["plane", "small vehicle"]);
        assert_eq!(p.instances[0].polygons, vec![vec![292, 48, 292, 97, 351, 97, 351, 48], vec![175, 185, 97, 195, 107, 263, 185, 253]]);
        assert_eq!(p.drops.total(), 0);
        let v1 = parse(&v2.replace("<sep>", ""), ParseOptions::default());
        assert_eq!(v1.instances[0].polygons.len(), 1);
        assert_eq!(v1.instances[0].polygons[0].len(), 16);
    }

    #[test]
    fn quirks() {
        let o = ParseOptions::default();
        // A leading `<sep>` stays in the phrase (it is not in the lookahead).
        assert_eq!(labels(&parse("plane<sep><loc_1><loc_2><loc_3><loc_4>", o)), ["plane<sep>"]);
        // A newline inside the phrase loses the chunk; leading whitespace may hold newlines.
        let p = parse("pla\nne<loc_1><loc_2><loc_3><loc_4>", o);
        assert!(p.instances.is_empty());
        assert_eq!(p.drops.get(NO_PHRASE), 4);
        assert_eq!(labels(&parse("pla\nne<loc_1><loc_2><loc_3><loc_4>", ParseOptions { phrase_across_newline: true })), ["pla\nne"]);
        assert_eq!(labels(&parse(" \n plane <loc_1><loc_2><loc_3><loc_4>", o)), ["plane"]);
        // Fewer than four tokens: no chunk.
        assert_eq!(parse("plane<loc_1><loc_2><loc_3>", o).drops.get(OUTSIDE_CHUNK), 3);
        // Without a phrase the first token's tail is a phrase run; the `loc_\d+>` strip empties it.
        let p = parse("<loc_1><loc_2><loc_3><loc_4><loc_5>", o);
        assert_eq!(labels(&p), [""]);
        assert_eq!(p.instances[0].polygons, vec![vec![2, 3, 4, 5]]);
        assert_eq!(p.drops.get(OUTSIDE_CHUNK), 1);
        // Unicode digits are `\d` and `int()` reads them.
        assert_eq!(parse("a<loc_\u{0661}\u{0662}><loc_2><loc_3><loc_4>", o).instances[0].polygons, vec![vec![12, 2, 3, 4]]);
        // Odd counts drop the last value; runs ended by </poly> are skipped.
        let p = parse("a<loc_1><loc_2><loc_3><sep><loc_4><loc_5></poly><loc_6><loc_7>", o);
        assert_eq!(p.instances[0].polygons, vec![vec![1, 2], vec![6, 7]]);
        assert_eq!((p.drops.get(ODD_VALUE), p.drops.get(UNTERMINATED_RUN)), (1, 2));
    }

    #[test]
    fn poly_instances() {
        let p = parse("a<poly><loc_1><loc_2></poly><loc_9><poly><loc_3><loc_4><sep><loc_5><loc_6></poly>", ParseOptions::default());
        assert_eq!(p.instances.len(), 2);
        assert_eq!(p.instances[1].polygons, vec![vec![3, 4], vec![5, 6]]);
        assert_eq!(p.drops.get(OUTSIDE_POLY), 1);
    }
}
