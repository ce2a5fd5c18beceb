//! DIOR-R's VOC-style annotation XML: `annotation/object` with `name`, `difficult` and a
//! `robndbox` of four corners (`x_left_top`, `y_left_top`, ..., `y_left_bottom`).

use lmmrotate_abi::{Object, Quad};
use lmmrotate_dataset_reader::ClassIndex;

const CORNERS: [&str; 4] = ["left_top", "right_top", "right_bottom", "left_bottom"];

fn child<'a>(node: roxmltree::Node<'a, 'a>, tag: &str) -> Option<roxmltree::Node<'a, 'a>> {
    node.children().find(|c| c.has_tag_name(tag))
}

fn text<'a>(node: roxmltree::Node<'a, 'a>, tag: &str) -> Option<&'a str> {
    child(node, tag).and_then(|c| c.text()).map(str::trim)
}

/// Objects of one XML document. Each bad object is an `Err` with the XML line it starts on, so
/// that the caller can report it as `file:line: message` and keep the others.
pub fn parse(xml: &str, classes: &ClassIndex) -> Result<Vec<Result<Object, (u32, String)>>, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("not well-formed XML: {e}"))?;
    let root = doc.root_element();
    if !root.has_tag_name("annotation") {
        return Err(format!("root element is <{}>, expected <annotation>", root.tag_name().name()));
    }
    Ok(root
        .children()
        .filter(|c| c.has_tag_name("object"))
        .map(|obj| {
            let line = doc.text_pos_at(obj.range().start).row;
            object(obj, classes).map_err(|m| (line, m))
        })
        .collect())
}

fn object(obj: roxmltree::Node, classes: &ClassIndex) -> Result<Object, String> {
    let name = text(obj, "name").ok_or("object without <name>")?;
    let class_id = classes.get(name).ok_or_else(|| format!("unknown class {name:?} (classes: {})", classes.describe()))?;
    let difficulty = match text(obj, "difficult") {
        Some(d) => d.parse::<u32>().map_err(|_| format!("bad <difficult> {d:?}"))?,
        None => 0,
    };
    let rb = child(obj, "robndbox").ok_or("object without <robndbox>")?;
    let mut pts = [0f32; 8];
    for (i, c) in CORNERS.iter().enumerate() {
        for (j, axis) in ["x", "y"].iter().enumerate() {
            let tag = format!("{axis}_{c}");
            let s = text(rb, &tag).ok_or_else(|| format!("<robndbox> without <{tag}>"))?;
            let v: f32 = s.parse().map_err(|_| format!("bad <{tag}> {s:?}"))?;
            if !v.is_finite() {
                return Err(format!("non-finite <{tag}> {s:?}"));
            }
            pts[2 * i + j] = v;
        }
    }
    Ok(Object { quad: Quad::new(pts), class_id, difficulty })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_corners_in_order_and_reports_bad_objects_with_lines() {
        let c = ClassIndex::new(&["airplane", "ship"]);
        let xml = "<annotation>\n<object><name>ship</name><difficult>1</difficult><robndbox>\
            <x_left_top>1</x_left_top><y_left_top>2</y_left_top><x_right_top>3</x_right_top><y_right_top>4</y_right_top>\
            <x_right_bottom>5</x_right_bottom><y_right_bottom>6</y_right_bottom><x_left_bottom>7</x_left_bottom>\
            <y_left_bottom>8</y_left_bottom></robndbox></object>\n<object><name>car</name></object>\n\
            <object><name>ship</name><robndbox><x_left_top>x</x_left_top></robndbox></object>\n</annotation>";
        let objs = parse(xml, &c).unwrap();
        let o = objs[0].as_ref().unwrap();
        assert_eq!((o.class_id, o.difficulty, o.quad.pts), (1, 1, [1., 2., 3., 4., 5., 6., 7., 8.]));
        let (line, msg) = objs[1].as_ref().unwrap_err();
        assert_eq!(*line, 3);
        assert!(msg.contains("unknown class \"car\""));
        assert!(objs[2].as_ref().unwrap_err().1.contains("bad <x_left_top>"));
        assert!(parse("<annotation><object>", &c).unwrap_err().contains("XML"));
        assert!(parse("<voc/>", &c).unwrap_err().contains("<annotation>"));
    }
}
