//! FAIR1M converted to DOTA txt: `x1 y1 ... x4 y4 class name difficulty`, where the class name
//! may hold spaces (`Small Car`), read as upstream's `FAIRDOTADataset`: `" ".join(tokens[8:-1])`.

use crate::classes::{item, Item};
use lmmrotate_abi::Object;
use lmmrotate_dataset_reader::{parse_quad, ClassIndex};

/// One line: `Ok(None)` for blank lines and DOTA's `imagesource:` / `gsd:` header lines.
pub fn parse_line(line: &str, classes: &ClassIndex) -> Result<Option<Item>, String> {
    let t = line.trim();
    if t.is_empty() || t.starts_with("imagesource:") || t.starts_with("gsd:") {
        return Ok(None);
    }
    let fields: Vec<&str> = t.split_whitespace().collect();
    if fields.len() < 10 {
        return Err(format!("expected `x1 y1 x2 y2 x3 y3 x4 y4 class name difficulty`, got {} fields", fields.len()));
    }
    let quad = parse_quad(&fields[..8])?;
    let last = fields[fields.len() - 1];
    let difficulty: u32 = last.parse().map_err(|_| format!("bad difficulty {last:?} (the last field)"))?;
    let name = fields[8..fields.len() - 1].join(" ");
    item(&name, classes, |class_id| Object { quad, class_id, difficulty }).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_word_names_and_difficulty_last() {
        let c = ClassIndex::new(&crate::classes::CLASSES);
        let Some(Item::Object(o)) = parse_line("1 2 3 4 5 6 7 8 Liquid Cargo Ship 1", &c).unwrap() else { panic!() };
        assert_eq!((o.class_id, o.difficulty, o.quad.pts[7]), (15, 1, 8.0));
        let Some(Item::Object(o)) = parse_line("1 2 3 4 5 6 7 8 Bus 0", &c).unwrap() else { panic!() };
        assert_eq!(o.class_id, 19);
        assert_eq!(parse_line("1 2 3 4 5 6 7 8 other-ship 0", &c), Ok(Some(Item::Other("other-ship".into()))));
        assert_eq!(parse_line("gsd:0.5", &c), Ok(None));
        assert!(parse_line("1 2 3 4 5 6 7 8 Bus", &c).unwrap_err().contains("9 fields"));
        assert!(parse_line("1 2 3 4 5 6 7 8 Small Car x", &c).unwrap_err().contains("bad difficulty \"x\""));
        assert!(parse_line("1 2 3 4 5 6 7 8 Small-Car 0", &c).unwrap_err().contains("unknown class \"Small-Car\""));
        assert!(parse_line("1 2 3 4 5 6 7 y Bus 0", &c).unwrap_err().contains("bad coordinate"));
    }
}
