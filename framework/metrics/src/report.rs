//! The evaluation report: summary numbers and per-class rows, as JSON (serde), a plain-text table
//! (like mmrotate's `eval.log`) and Markdown.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use std::fmt::Write;

/// Mean and sample standard deviation (n - 1; 0 for a single sample).
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
pub struct MeanSd {
    pub mean: f64,
    pub sd: f64,
    pub min: f64,
    pub max: f64,
}

impl MeanSd {
    pub fn of(xs: &[f64]) -> Self {
        let n = xs.len() as f64;
        if xs.is_empty() {
            return MeanSd { mean: 0.0, sd: 0.0, min: 0.0, max: 0.0 };
        }
        let mean = xs.iter().sum::<f64>() / n;
        let var = if xs.len() > 1 { xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
        let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        MeanSd { mean, sd: var.sqrt(), min, max }
    }
}

/// mAP_nc over random tie orders (see [`crate::EvalOptions::tie_samples`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TieStats {
    pub samples: usize,
    pub seed: u64,
    pub map_nc_11points: MeanSd,
    pub map_nc_area: MeanSd,
}

/// One class. `recall` and `precision` are the final points of the ranking (they do not depend
/// on the order); `f1_*` are the class's entries of the mF1 confusion matrix.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassRow {
    /// The key of the row in JSON.
    #[serde(skip)]
    pub class: String,
    pub gts: usize,
    pub dets: usize,
    pub recall: f64,
    pub precision: f64,
    pub ap_nc_11points: f64,
    pub ap_nc_area: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ap_11points: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ap_area: Option<f64>,
    pub f1_precision: f64,
    pub f1_recall: f64,
}

/// Everything [`crate::evaluate`] computes. mAP values are means over classes with ground truth;
/// `mf1`, `mean_precision`, `mean_recall` include the background entry as upstream.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub map_nc_11points: f64,
    pub map_nc_area: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub map_11points: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub map_area: Option<f64>,
    pub mf1: f64,
    pub mean_precision: f64,
    pub mean_recall: f64,
    pub mf1_no_background: f64,
    pub mean_precision_no_background: f64,
    pub mean_recall_no_background: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tie_samples: Option<TieStats>,
    pub iou_thr: f64,
    pub images: usize,
    pub detections: usize,
    pub skipped_lines: usize,
    /// An object keyed by class name, in class order.
    #[serde(serialize_with = "rows_as_map")]
    pub per_class: Vec<ClassRow>,
    /// Rows: ground-truth class then background; columns: predicted class then "missed".
    pub confusion_matrix: Vec<Vec<u64>>,
}

fn rows_as_map<S: Serializer>(rows: &[ClassRow], s: S) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(Some(rows.len()))?;
    for r in rows {
        m.serialize_entry(&r.class, r)?;
    }
    m.end()
}

impl Report {
    /// Pretty JSON with the keys of the issue ("map_nc_11points", …, "per_class").
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }

    fn header(&self) -> Vec<&'static str> {
        let mut h = vec!["class", "gts", "dets", "recall", "precision", "ap_nc"];
        if self.map_11points.is_some() {
            h.push("ap");
        }
        h
    }

    fn cells(&self) -> Vec<Vec<String>> {
        let f = |x: f64| format!("{x:.4}");
        let mut rows: Vec<Vec<String>> = self
            .per_class
            .iter()
            .map(|r| {
                let mut v = vec![
                    r.class.clone(),
                    r.gts.to_string(),
                    r.dets.to_string(),
                    f(r.recall),
                    f(r.precision),
                    f(r.ap_nc_11points),
                ];
                if let Some(ap) = r.ap_11points {
                    v.push(f(ap));
                }
                v
            })
            .collect();
        let mut total = vec![
            "mAP".to_string(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            f(self.map_nc_11points),
        ];
        if let Some(m) = self.map_11points {
            total.push(f(m));
        }
        rows.push(total);
        rows
    }

    fn summary_lines(&self) -> Vec<String> {
        let mut v = vec![format!("mAP_nc (11 points) {:.4}, (area) {:.4}", self.map_nc_11points, self.map_nc_area)];
        if let (Some(a), Some(b)) = (self.map_11points, self.map_area) {
            v.push(format!("mAP (11 points) {a:.4}, (area) {b:.4}"));
        }
        v.push(format!("mF1 {:.4} (mP {:.4}, mR {:.4})", self.mf1, self.mean_precision, self.mean_recall));
        v.push(format!(
            "mF1 without background {:.4} (mP {:.4}, mR {:.4})",
            self.mf1_no_background, self.mean_precision_no_background, self.mean_recall_no_background
        ));
        if let Some(t) = &self.tie_samples {
            v.push(format!(
                "mAP_nc over {} random tie orders (seed {}): 11 points {:.4} ± {:.4}, area {:.4} ± {:.4}",
                t.samples, t.seed, t.map_nc_11points.mean, t.map_nc_11points.sd, t.map_nc_area.mean, t.map_nc_area.sd
            ));
        }
        v.push(format!("{} images, {} detections, IoU >= {}", self.images, self.detections, self.iou_thr));
        if self.skipped_lines > 0 {
            v.push(format!("{} bad input lines skipped", self.skipped_lines));
        }
        v
    }

    /// A fixed-width table (AP columns are 11-point) followed by the summary.
    pub fn to_text(&self) -> String {
        let header = self.header();
        let cells = self.cells();
        let widths: Vec<usize> = (0..header.len())
            .map(|i| cells.iter().map(|r| r[i].len()).chain([header[i].len()]).max().unwrap_or(0))
            .collect();
        let line = |vals: Vec<&str>| {
            let parts: Vec<String> = vals
                .iter()
                .enumerate()
                .map(
                    |(i, v)| if i == 0 { format!("{v:<w$}", w = widths[i]) } else { format!("{v:>w$}", w = widths[i]) },
                )
                .collect();
            format!("| {} |\n", parts.join(" | "))
        };
        let rule = format!("+{}+\n", widths.iter().map(|w| "-".repeat(w + 2)).collect::<Vec<_>>().join("+"));
        let mut out = rule.clone();
        out += &line(header.clone());
        out += &rule;
        let (body, total) = cells.split_at(cells.len() - 1);
        for r in body {
            out += &line(r.iter().map(String::as_str).collect());
        }
        out += &rule;
        out += &line(total[0].iter().map(String::as_str).collect());
        out += &rule;
        for s in self.summary_lines() {
            let _ = writeln!(out, "{s}");
        }
        out
    }

    /// A Markdown table (AP columns are 11-point) followed by the summary as a list.
    pub fn to_markdown(&self) -> String {
        let header = self.header();
        let mut out = format!("| {} |\n", header.join(" | "));
        let align: Vec<&str> = (0..header.len()).map(|i| if i == 0 { "---" } else { "---:" }).collect();
        out += &format!("| {} |\n", align.join(" | "));
        for r in self.cells() {
            out += &format!("| {} |\n", r.join(" | "));
        }
        out.push('\n');
        for s in self.summary_lines() {
            let _ = writeln!(out, "- {s}");
        }
        out
    }
}
