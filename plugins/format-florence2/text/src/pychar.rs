//! Python `str` semantics the upstream code relies on: `\s`/`str.isspace`/`str.strip`/`str.split`,
//! `\d` with `int()` (any Unicode decimal digit, not only ASCII), and `str.lower`.

/// Python's whitespace (`str.isspace`, regex `\s`): Unicode White_Space plus the ASCII separators
/// U+001C..U+001F, which Python counts and Rust's `char::is_whitespace` does not.
pub fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `s.strip()`.
pub fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// `s.split()`: runs of whitespace separate, empty pieces are dropped.
pub fn split(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_space).filter(|t| !t.is_empty())
}

/// `s.lower()`. Rust applies the same full Unicode mapping (final sigma included).
pub fn lower(s: &str) -> String {
    s.to_lowercase()
}

/// Code points of the digit zero of every Unicode decimal-digit run (general category Nd); each
/// run holds the digits 0..9 in order. Generated with Python 3.11 (Unicode 14):
/// `[c for c in range(0x110000) if re.match(r'\d', chr(c)) and unicodedata.decimal(chr(c)) == 0]`.
const DIGIT_ZEROS: [u32; 66] = [
    0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66, 0xDE6, 0xE50,
    0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50,
    0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10, 0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136,
    0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650, 0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0,
    0x16A60, 0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
];

/// The value of `c` if Python's `\d` matches it (what `int()` then reads).
pub fn digit(c: char) -> Option<u32> {
    let c = c as u32;
    if (0x30..=0x39).contains(&c) {
        return Some(c - 0x30);
    }
    let i = DIGIT_ZEROS.partition_point(|&z| z <= c);
    let zero = DIGIT_ZEROS[i.checked_sub(1)?];
    (c - zero < 10).then_some(c - zero)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_include_non_ascii_decimal_runs() {
        assert_eq!(digit('7'), Some(7));
        assert_eq!(digit('\u{0663}'), Some(3)); // ARABIC-INDIC DIGIT THREE
        assert_eq!(digit('\u{FF19}'), Some(9)); // FULLWIDTH DIGIT NINE
        assert_eq!(digit('\u{00B2}'), None); // superscript two is No, not Nd
        assert_eq!(digit('a'), None);
        assert_eq!(digit('\u{0}'), None);
    }

    #[test]
    fn whitespace_is_pythons() {
        assert!(is_space('\u{1c}') && is_space('\u{a0}') && is_space('\u{3000}'));
        assert!(!is_space('\u{200b}'));
        assert_eq!(strip("\u{1f} plane\n"), "plane");
        assert_eq!(split(" a  b\tc ").collect::<Vec<_>>(), ["a", "b", "c"]);
    }
}
