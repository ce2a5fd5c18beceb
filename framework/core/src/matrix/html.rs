//! The matrix report as one self-contained HTML page: the results table, per-class AP_nc bar
//! charts (inline SVG) and sample pictures (JPEG in base64 data URIs); it loads nothing else.

use super::{fixed, last_line, versions, CellResult, ClassAp, Picture, Status};
use crate::images::class_colour;
use std::{collections::BTreeMap, fmt::Write as _};

const STYLE: &str = "
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.cell { white-space: nowrap; } td.small { font-size: 12px; color: #555; } td.note { min-width: 20em; }
.ok { color: #1a7f37; } .failed { color: #c62828; font-weight: bold; } .skipped { color: #888; }
section { border-top: 1px solid #ddd; margin-top: 1.5em; }
pre { background: #f7f7f7; padding: 8px; overflow-x: auto; max-height: 20em; }
figure { display: inline-block; margin: 0 1em 1em 0; }
figure img { max-width: 100%; border: 1px solid #ccc; }
figcaption { color: #555; font-size: 12px; }
";

/// `&`, `<`, `>` and quotes as entities, for text and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Standard base64 (RFC 4648, with padding), for data URIs.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A command line as a shell would take it back (single quotes where needed).
fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@".contains(c)) {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Horizontal bars of AP_nc (11 points) per class, in the class colours of the pictures.
fn bar_chart(rows: &[ClassAp]) -> String {
    const LABEL_W: usize = 170;
    const BAR_W: f64 = 320.0;
    const ROW_H: usize = 20;
    let height = rows.len() * ROW_H + 24;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{}" height="{height}" role="img" aria-label="AP_nc per class">"#,
        LABEL_W + BAR_W as usize + 60
    );
    for (i, r) in rows.iter().enumerate() {
        let y = i * ROW_H;
        let c = class_colour(i as u32).0;
        let w = (r.ap_nc_11points.clamp(0.0, 1.0) * BAR_W).round();
        let _ = write!(
            s,
            r##"<text x="{lx}" y="{ty}" text-anchor="end" font-size="12">{name}</text><rect x="{LABEL_W}" y="{ry}" width="{w}" height="{bh}" fill="#{:02x}{:02x}{:02x}"><title>{name}: {ap:.4} ({gts} gt, {dets} det)</title></rect><text x="{vx}" y="{ty}" font-size="11">{ap:.4}</text>"##,
            c[0],
            c[1],
            c[2],
            lx = LABEL_W - 6,
            ty = y + 14,
            ry = y + 3,
            bh = ROW_H - 6,
            vx = LABEL_W as f64 + w + 4.0,
            name = esc(&r.class),
            ap = r.ap_nc_11points,
            gts = r.gts,
            dets = r.dets,
        );
    }
    // Axis with ticks at 0, 0.5 and 1.
    let axis_y = rows.len() * ROW_H + 4;
    let _ = write!(s, r##"<line x1="{LABEL_W}" y1="{axis_y}" x2="{}" y2="{axis_y}" stroke="#888"/>"##, LABEL_W as f64 + BAR_W);
    for t in [0.0, 0.5, 1.0] {
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" font-size="10" text-anchor="middle">{t}</text>"#,
            LABEL_W as f64 + t * BAR_W,
            axis_y + 14
        );
    }
    s.push_str("</svg>");
    s
}

fn status_text(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::Failed => "failed",
        Status::Skipped => "skipped",
    }
}

/// The page. `pictures` holds, per finished cell, its sample pictures or why there are none.
pub fn html(results: &[CellResult], pictures: &BTreeMap<String, Result<Vec<Picture>, String>>) -> String {
    let count = |st: Status| results.iter().filter(|r| r.status == st).count();
    let version = results.iter().find_map(|r| r.lmmrotate_version.clone()).unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string());
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>lmmrotate eval matrix</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>Eval matrix</h1>\n<p>{} cells: {} ok, {} failed, {} skipped. lmmrotate {}. AP values are AP_nc (11 points), as in the LMMRotate paper.</p>\n",
        results.len(),
        count(Status::Ok),
        count(Status::Failed),
        count(Status::Skipped),
        esc(&version)
    );
    s.push_str("<table id=\"results\">\n<thead><tr><th>cell (model.dataset.format.split)</th><th>status</th><th>mAP_nc (11p)</th><th>mAP_nc (area)</th><th>mF1</th><th>images</th><th>images/s</th><th>wall (s)</th><th>checkpoint</th><th>versions</th><th>note</th></tr></thead>\n<tbody>\n");
    for r in results {
        let note = r.reason.as_deref().or(r.error.as_deref()).map(|t| last_line(t, 160)).unwrap_or_default();
        let name = if r.status == Status::Skipped {
            esc(&r.cell)
        } else {
            format!("<a href=\"#cell-{0}\">{0}</a>", esc(&r.cell))
        };
        let st = status_text(r.status);
        let _ = writeln!(
            s,
            "<tr><td class=\"cell\">{name}</td><td class=\"{st}\">{st}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"small\">{}</td><td class=\"note\">{}</td></tr>",
            fixed(r.map_nc_11points, 4),
            fixed(r.map_nc_area, 4),
            fixed(r.mf1, 4),
            r.images.map_or_else(|| "-".into(), |n| n.to_string()),
            fixed(r.images_per_s, 2),
            fixed(r.wall_s, 1),
            esc(r.checkpoint.as_deref().unwrap_or("-")),
            esc(&versions(r)),
            esc(&note),
        );
    }
    s.push_str("</tbody>\n</table>\n");

    for r in results.iter().filter(|r| r.status != Status::Skipped) {
        let _ = writeln!(s, "<section id=\"cell-{0}\">\n<h2>{0}</h2>", esc(&r.cell));
        match r.status {
            Status::Failed => {
                let _ = writeln!(s, "<p class=\"failed\">failed</p>\n<pre class=\"error\">{}</pre>", esc(r.error.as_deref().unwrap_or("")));
            }
            _ => {
                let _ = writeln!(
                    s,
                    "<p>mAP_nc {} (area {}), mF1 {} (without background {}), {} images</p>",
                    fixed(r.map_nc_11points, 4),
                    fixed(r.map_nc_area, 4),
                    fixed(r.mf1, 4),
                    fixed(r.mf1_no_background, 4),
                    r.images.map_or_else(|| "-".into(), |n| n.to_string())
                );
                s.push_str(&bar_chart(&r.per_class));
                s.push('\n');
                match pictures.get(&r.cell) {
                    Some(Ok(pics)) => {
                        s.push_str("<div class=\"samples\">\n");
                        for p in pics {
                            let _ = writeln!(
                                s,
                                "<figure><img src=\"data:image/jpeg;base64,{}\" alt=\"ground truth and prediction of {1}\"><figcaption>{1}: ground truth | prediction</figcaption></figure>",
                                base64(&p.jpeg),
                                esc(&p.caption)
                            );
                        }
                        s.push_str("</div>\n");
                    }
                    Some(Err(e)) => {
                        let _ = writeln!(s, "<p>No sample pictures: {}</p>", esc(e));
                    }
                    None => {}
                }
            }
        }
        if !r.command.is_empty() {
            let _ = writeln!(s, "<details><summary>command</summary><pre>{}</pre></details>", esc(&shell_words(&r.command)));
        }
        s.push_str("</section>\n");
    }
    s.push_str("</body>\n</html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")];
        for (plain, enc) in cases {
            assert_eq!(base64(plain.as_bytes()), enc, "{plain}");
        }
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }

    #[test]
    fn text_is_escaped_and_commands_quoted() {
        assert_eq!(esc(r#"<b a="x">&'"#), "&lt;b a=&quot;x&quot;&gt;&amp;&#39;");
        let cmd = ["lmmrotate", "eval", "--model-config", r#"{"seed":1}"#, "it's"].map(String::from);
        assert_eq!(shell_words(&cmd), r#"lmmrotate eval --model-config '{"seed":1}' 'it'\''s'"#);
    }

    #[test]
    fn page_has_the_table_charts_and_pictures() {
        let ok = CellResult {
            cell: "m.d.v2".into(),
            model: "m".into(),
            dataset: "d".into(),
            format: "v2".into(),
            split: None,
            checkpoint: None,
            status: Status::Ok,
            reason: None,
            error: None,
            map_nc_11points: Some(0.5),
            map_nc_area: Some(0.4),
            mf1: Some(0.3),
            mf1_no_background: Some(0.2),
            images: Some(2),
            per_class: vec![ClassAp { class: "ship<1>".into(), gts: 1, dets: 1, ap_nc_11points: 0.5, ap_nc_area: 0.4 }],
            images_per_s: None,
            wall_s: Some(1.0),
            lmmrotate_version: None,
            plugins: BTreeMap::new(),
            command: vec!["lmmrotate".into(), "eval".into()],
        };
        let failed = CellResult { cell: "m.d.v3".into(), status: Status::Failed, error: Some("line 1\nerror: <boom>".into()), ..ok.clone() };
        let pics = BTreeMap::from([("m.d.v2".to_string(), Ok(vec![Picture { caption: "img1".into(), jpeg: b"foo".to_vec() }]))]);
        let page = html(&[ok, failed], &pics);
        assert!(page.contains("<table id=\"results\">") && page.contains("<a href=\"#cell-m.d.v2\">m.d.v2</a>"));
        assert!(page.contains("<img src=\"data:image/jpeg;base64,Zm9v\""));
        assert!(page.contains("<svg") && page.contains("ship&lt;1&gt;"));
        assert!(page.contains("<td class=\"note\">error: &lt;boom&gt;</td>"), "the note is the last line of the error");
        assert!(page.contains("<pre class=\"error\">line 1\nerror: &lt;boom&gt;</pre>"));
        assert!(!page.contains("src=\"http") && !page.contains("<link"), "nothing loaded from elsewhere");
    }
}
