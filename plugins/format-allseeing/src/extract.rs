//! Reading model output as upstream `extract_objects` (All-Seeing v2's parser in
//! `lmmrotate/models/internvl2/allseeing_format.py`), then re-encoding it as Florence-2 v2 text
//! for the Florence parser, as `api.py` does.
//!
//! `re.findall(r'<.*?>.*?<.*?>', text)` becomes three "first `>` / `<` / `>` after" searches on
//! one line; the searches only move forward, so long garbage stays linear.

use lmmrotate_florence2_text::{pychar, Drops};
use serde_json::Value;

pub const BOX_BEFORE_REF: &str = "allseeing <box> item before any <ref> (items; upstream raises NotImplementedError)";
pub const BOX_AFTER_PRED: &str = "allseeing <box> item after a <pred> relation (items)";
pub const NOT_JSON: &str = "allseeing <box> item that is not JSON, read by the [8 ints] fallback (items)";
pub const NOT_ITERABLE: &str = "allseeing box that is a JSON number, bool or null (items; upstream raises TypeError)";

/// "First occurrence of `byte` after position q" for non-decreasing q, amortised O(1).
struct Cursor<'a> {
    s: &'a [u8],
    byte: u8,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a [u8], byte: u8) -> Self {
        Self { s, byte, at: 0 }
    }

    /// The first index > q holding the byte, or `s.len()`.
    fn after(&mut self, q: usize) -> usize {
        if self.at <= q {
            self.at = q + 1;
        }
        while self.at < self.s.len() && self.s[self.at] != self.byte {
            self.at += 1;
        }
        self.at
    }
}

/// `re.findall(r'<.*?>.*?<.*?>', text)` (`.` does not match a newline).
fn grounded_items(text: &str) -> Vec<&str> {
    let b = text.as_bytes();
    let (mut gt1, mut lt, mut gt2, mut nl) = (Cursor::new(b, b'>'), Cursor::new(b, b'<'), Cursor::new(b, b'>'), Cursor::new(b, b'\n'));
    let mut items = Vec::new();
    let mut p = 0;
    while p < b.len() {
        if b[p] != b'<' {
            p += 1;
            continue;
        }
        let a = gt1.after(p);
        let c = if a < b.len() {
            let m = lt.after(a);
            if m < b.len() { gt2.after(m) } else { b.len() }
        } else {
            b.len()
        };
        if c < b.len() && nl.after(p) > c {
            items.push(&text[p..=c]);
            p = c + 1;
        } else {
            p += 1;
        }
    }
    items
}

/// `re.sub(r'<.*?>', '', item)`.
fn strip_tags(item: &str) -> String {
    let mut out = String::with_capacity(item.len());
    let mut rest = item;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        match rest[i..].find('>') {
            Some(j) => rest = &rest[i + j + 1..],
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// `loads_again`: every `[d, d, d, d, d, d, d, d]` with 1-4 digits each and at most one
/// whitespace after each comma. Only ASCII digits: for other Unicode digits upstream's regex
/// matches but its `json.loads` raises.
fn loads_again(s: &str) -> Vec<Value> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    'scan: while i < b.len() {
        if b[i] != b'[' {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        let mut values = Vec::with_capacity(8);
        for k in 0..8 {
            if k > 0 {
                if b.get(j) != Some(&b',') {
                    i += 1;
                    continue 'scan;
                }
                j += 1;
                if let Some(c) = s[j..].chars().next().filter(|&c| pychar::is_space(c)) {
                    j += c.len_utf8();
                }
            }
            let n = b[j..].iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 || n > 4 {
                i += 1;
                continue 'scan;
            }
            values.push(Value::from(s[j..j + n].parse::<u64>().unwrap_or(0)));
            j += n;
        }
        if b.get(j) != Some(&b']') {
            i += 1;
            continue;
        }
        out.push(Value::Array(values));
        i = j + 1;
    }
    out
}

/// Python's `str(v)` for a JSON value, as far as the Florence parser can tell: integers exactly;
/// floats keep a `.` or exponent (so never read as a bin); containers approximately.
fn py_str(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => format!("{f:?}"),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Array(xs) => format!("[{}]", xs.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => {
            format!("{{{}}}", m.iter().map(|(k, v)| format!("'{k}': {}", py_repr(v))).collect::<Vec<_>>().join(", "))
        }
    }
}

fn py_repr(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{s}'"),
        other => py_str(other),
    }
}

/// `for v in x` over a JSON value: list items, object keys, string characters; `None` where
/// Python raises TypeError.
fn iterate(v: Value) -> Option<Vec<Value>> {
    match v {
        Value::Array(xs) => Some(xs),
        Value::Object(m) => Some(m.into_iter().map(|(k, _)| Value::String(k)).collect()),
        Value::String(s) => Some(s.chars().map(|c| Value::String(c.to_string())).collect()),
        _ => None,
    }
}

/// The Florence-2 v2 text upstream builds from an allseeing response (labels in first-seen
/// order, repeated labels merged), and what was dropped on the way.
pub fn to_florence(text: &str) -> (String, Drops) {
    let mut drops = Drops::default();
    let mut objects: Vec<(String, Vec<Value>)> = Vec::new();
    // None: no tag seen yet; Some(true): last was <ref>; Some(false): last was <pred>.
    let mut last: Option<(bool, String)> = None;
    for item in grounded_items(text) {
        let clean = strip_tags(item);
        if !item.starts_with("<box>") {
            last = Some((item.starts_with("<ref>"), clean));
            continue;
        }
        let content = match serde_json::from_str::<Value>(&clean) {
            Ok(v) => iterate(v),
            Err(_) => {
                drops.add(NOT_JSON, 1);
                Some(loads_again(&clean))
            }
        };
        match (&last, content) {
            (None, _) => drops.add(BOX_BEFORE_REF, 1),
            (Some((false, _)), _) => drops.add(BOX_AFTER_PRED, 1),
            (Some((true, _)), None) => drops.add(NOT_ITERABLE, 1),
            (Some((true, label)), Some(boxes)) => match objects.iter_mut().find(|(l, _)| l == label) {
                Some((_, v)) => v.extend(boxes),
                None => objects.push((label.clone(), boxes)),
            },
        }
    }
    let mut out = String::new();
    for (label, boxes) in objects {
        out.push_str(&label);
        let mut first = true;
        for b in boxes {
            let Some(values) = iterate(b) else {
                drops.add(NOT_ITERABLE, 1);
                continue;
            };
            if !first {
                out.push_str("<sep>");
            }
            first = false;
            for v in &values {
                out.push_str("<loc_");
                out.push_str(&py_str(v));
                out.push('>');
            }
        }
    }
    (out, drops)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKED: &str = "<ref>plane</ref><box>[[292, 48, 292, 97, 351, 97, 351, 48], [175, 185, 97, 195, 107, 263, 185, 253]]</box><ref>small vehicle</ref><box>[[500, 500, 500, 509, 519, 509, 519, 500]]</box>";

    #[test]
    fn worked_example_to_florence_v2() {
        let (t, d) = to_florence(WORKED);
        assert_eq!(t, "plane<loc_292><loc_48><loc_292><loc_97><loc_351><loc_97><loc_351><loc_48><sep><loc_175><loc_185><loc_97><loc_195><loc_107><loc_263><loc_185><loc_253>small vehicle<loc_500><loc_500><loc_500><loc_509><loc_519><loc_509><loc_519><loc_500>");
        assert_eq!(d.total(), 0);
    }

    #[test]
    fn upstream_quirks() {
        // Repeated labels merge into the first group.
        let (t, _) = to_florence("<ref>a</ref><box>[[1,2,3,4,5,6,7,8]]</box><ref>b</ref><box>[]</box><ref>a</ref><box>[[9,9,9,9,9,9,9,9]]</box>");
        assert!(t.starts_with("a<loc_1>") && t.contains("<loc_8><sep><loc_9>") && t.ends_with('b'), "{t}");
        // Not JSON: the 8-int fallback.
        let (t, d) = to_florence("<ref>a</ref><box>[[1, 2, 3, 4, 5, 6, 7, 8], [1, 2</box>");
        assert_eq!(t, "a<loc_1><loc_2><loc_3><loc_4><loc_5><loc_6><loc_7><loc_8>");
        assert_eq!(d.get(NOT_JSON), 1);
        // A box before any ref, or a scalar, would raise upstream.
        assert_eq!(to_florence("<box>[[1]]</box>").1.get(BOX_BEFORE_REF), 1);
        assert_eq!(to_florence("<ref>a</ref><box>5</box>").1.get(NOT_ITERABLE), 1);
        // Newlines split items.
        assert!(grounded_items("<ref>a\n</ref>").is_empty());
        assert_eq!(grounded_items("x<<ref>a</ref>"), ["<<ref>a</ref>"]);
        assert_eq!(strip_tags("<ref>a<b</ref>c<"), "ac<");
    }
}
