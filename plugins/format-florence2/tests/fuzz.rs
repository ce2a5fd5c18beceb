//! decode never panics, and every `<loc_k>` value ends in a box or in a drop count.
//!
//! The normal run tries a few thousand inputs per property; the long run (>= 100k cases each) is
//! `cargo test -p lmmrotate-format-florence2 --test fuzz -- --ignored` (2 × 100 000 cases took
//! 217 s in the debug build on the 2-core dev machine).

mod common;

use common::*;
use lmmrotate_abi::{ClassTable, FormatPlugin};
use lmmrotate_florence2_text::{decode, DecodeOptions, ParseOptions, Version};
use lmmrotate_format_florence2::Florence2;
use proptest::prelude::*;

/// Strings made of the grammar's pieces, broken tokens and arbitrary text.
fn response() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => (0u64..1200).prop_map(|k| format!("<loc_{k}>")),
        2 => Just("<sep>".to_string()),
        1 => prop::sample::select(vec!["<poly>", "</poly>", "<s>", "</s>", "<pad>", "<", ">", "\n", "<loc_", "loc_7>", "<unk>", " "]).prop_map(str::to_string),
        2 => prop::sample::select(vec!["plane", "small vehicle", "Ship", "harbour", "tennis-court", ""]).prop_map(str::to_string),
        1 => "[a-z ]{1,6}",
        1 => "\\PC{1,3}",
        1 => "<loc_[0-9\u{0660}-\u{0669}]{1,25}>",
    ];
    prop::collection::vec(piece, 0..80).prop_map(|v| v.concat())
}

fn check(text: &str, w: u32, h: u32, opts: &DecodeOptions) {
    let classes = ClassTable::from_names(&DOTA);
    let d = decode(text, &image(w, h), &classes, opts);
    assert_eq!(d.drops.total() as usize + 8 * d.detections.len(), d.loc_tokens, "{text:?}");
    // The plugin with the default config is the text crate with default options.
    let f = Florence2::from_config(Version::V2, "v2", "{}").unwrap();
    let plain = decode(text, &image(w, h), &classes, &DecodeOptions::default()).into_abi();
    assert_eq!(f.decode(text, &image(w, h), &classes), plain);
}

fn options() -> impl Strategy<Value = DecodeOptions> {
    (any::<bool>(), prop::option::of(0.0f64..100.0)).prop_map(|(nl, cut)| DecodeOptions {
        parse: ParseOptions { phrase_across_newline: nl },
        fuzzy_cutoff: cut,
        ..DecodeOptions::default()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn structured_garbage(text in response(), w in 0u32..5000, h in 0u32..5000, o in options()) {
        check(&text, w, h, &o);
    }

    #[test]
    fn arbitrary_strings(text in any::<String>(), o in options()) {
        check(&text, 1024, 1024, &o);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100_000))]

    #[test]
    #[ignore = "long fuzz run, see the module docs"]
    fn structured_garbage_long(text in response(), w in 0u32..5000, h in 0u32..5000, o in options()) {
        check(&text, w, h, &o);
    }

    #[test]
    #[ignore = "long fuzz run, see the module docs"]
    fn arbitrary_strings_long(text in any::<String>(), o in options()) {
        check(&text, 1024, 1024, &o);
    }
}

#[test]
fn huge_and_truncated_responses() {
    let classes = ClassTable::from_names(&DOTA);
    let img = image(1024, 1024);
    let f = Florence2::from_config(Version::V2, "v2", "{}").unwrap();
    let mut text = String::from("plane");
    for i in 0..100_000u32 {
        if i > 0 {
            text.push_str("<sep>");
        }
        for k in 0..8 {
            text.push_str(&format!("<loc_{}>", (i * 7 + k) % 1000));
        }
    }
    assert_eq!(f.decode(&text, &img, &classes).detections.len(), 100_000);
    // Cut inside the last token: that box loses its last value and its run, nothing else.
    let cut = &text[..text.len() - 3];
    let d = f.decode(cut, &img, &classes);
    assert_eq!(d.detections.len(), 99_999);
    assert_eq!(d.dropped.iter().map(|c| c.count).sum::<u32>(), 7);
    // Pathological text stays fast and empty.
    for junk in ["<".repeat(200_000), format!("a<loc_{}", "9".repeat(200_000)), format!("a{}", "<loc_99999999999999999999999>".repeat(10))] {
        assert!(f.decode(&junk, &img, &classes).detections.is_empty());
    }
}
