//! The statistics as an aligned text table (for the terminal) or Markdown (for reports).

use crate::stats::{DataStats, Distribution};
use std::fmt::Write;

fn rows(stats: &DataStats) -> Vec<(&'static str, &Distribution)> {
    let mut v = vec![
        ("objects / image", &stats.objects_per_image),
        ("short side (px)", &stats.short_side),
        ("long side (px)", &stats.long_side),
        ("angle (deg, le90)", &stats.angle),
    ];
    if let Some(t) = &stats.tokens {
        v.push(("tokens / response", t));
    }
    v
}

impl DataStats {
    /// Plain text: totals, one line per distribution, then the class table.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "images   {} ({} without objects)", self.images, self.empty_images);
        let _ = writeln!(s, "objects  {}", self.objects);
        let _ = writeln!(s);
        let _ = writeln!(s, "{:<18} {:>10} {:>10} {:>10}", "", "min", "mean", "max");
        for (name, d) in rows(self) {
            let _ = writeln!(s, "{name:<18} {:>10.1} {:>10.2} {:>10.1}", d.min, d.mean, d.max);
        }
        let _ = writeln!(s);
        let width = self.classes.iter().map(|c| c.name.chars().count()).max().unwrap_or(5).max(5);
        let _ = writeln!(s, "{:<width$} {:>9} {:>9}", "class", "objects", "images");
        for c in &self.classes {
            let _ = writeln!(s, "{:<width$} {:>9} {:>9}", c.name, c.objects, c.images);
        }
        s
    }

    /// Markdown: the same content as three tables.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "| images | without objects | objects |\n|---:|---:|---:|");
        let _ = writeln!(s, "| {} | {} | {} |\n", self.images, self.empty_images, self.objects);
        let _ = writeln!(s, "| | min | mean | max |\n|---|---:|---:|---:|");
        for (name, d) in rows(self) {
            let _ = writeln!(s, "| {name} | {:.1} | {:.2} | {:.1} |", d.min, d.mean, d.max);
        }
        let _ = writeln!(s, "\n| class | objects | images |\n|---|---:|---:|");
        for c in &self.classes {
            let _ = writeln!(s, "| {} | {} | {} |", c.name.replace('|', "\\|"), c.objects, c.images);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use crate::stats::{compute, StatsOptions};
    use lmmrotate_abi::{ClassTable, ImageMeta, Object, Quad, Sample};

    #[test]
    fn text_and_markdown_tables() {
        let classes = ClassTable::from_names(&["plane", "Small Car"]);
        let samples = [Sample {
            image: ImageMeta { id: "a".into(), path: "a.png".into(), width: 10, height: 10 },
            objects: vec![Object { quad: Quad::new([0., 0., 8., 0., 8., 2., 0., 2.]), class_id: 1, difficulty: 0 }].into(),
        }];
        let s = compute(&samples, &classes, &StatsOptions::default());
        let text = s.to_text();
        assert!(text.contains("images   1 (0 without objects)"), "{text}");
        assert!(text.contains("long side (px)            8.0       8.00        8.0"), "{text}");
        assert!(text.contains("Small Car         1         1"), "{text}");
        assert!(!text.contains("tokens"));
        let md = s.to_markdown();
        assert!(md.contains("| 1 | 0 | 1 |") && md.contains("| Small Car | 1 | 1 |") && md.contains("| plane | 0 | 0 |"), "{md}");
        let md = s.with_tokens(&[12], &StatsOptions::default()).to_markdown();
        assert!(md.contains("| tokens / response | 12.0 | 12.00 | 12.0 |"), "{md}");
    }
}
