//! FAIR1M's annotation XML: `annotation/objects/object` with `possibleresult/name` and
//! `points/point` as `"x,y"`, five points closing the box; the first four are the quad.

use crate::classes::{item, Item};
use lmmrotate_abi::{Object, Quad};
use lmmrotate_dataset_reader::ClassIndex;

fn child<'a>(node: roxmltree::Node<'a, 'a>, tag: &str) -> Option<roxmltree::Node<'a, 'a>> {
    node.children().find(|c| c.has_tag_name(tag))
}

/// One `<object>`: its item, or the XML line it starts on and what is wrong with it.
pub type Parsed = Result<Item, (u32, String)>;

/// Items of one XML document. Each bad object is an `Err` with the XML line it starts on, so
/// that the caller can report it as `file:line: message` and keep the others.
pub fn parse(xml: &str, classes: &ClassIndex) -> Result<Vec<Parsed>, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("not well-formed XML: {e}"))?;
    let root = doc.root_element();
    if !root.has_tag_name("annotation") {
        return Err(format!("root element is <{}>, expected <annotation>", root.tag_name().name()));
    }
    let objects = child(root, "objects").ok_or("<annotation> without <objects>")?;
    Ok(objects
        .children()
        .filter(|c| c.has_tag_name("object"))
        .map(|obj| {
            let line = doc.text_pos_at(obj.range().start).row;
            object(obj, classes).map_err(|m| (line, m))
        })
        .collect())
}

fn object(obj: roxmltree::Node, classes: &ClassIndex) -> Result<Item, String> {
    let name = child(obj, "possibleresult")
        .and_then(|p| child(p, "name"))
        .and_then(|n| n.text())
        .map(str::trim)
        .ok_or("object without <possibleresult><name>")?;
    let points = child(obj, "points").ok_or("object without <points>")?;
    let pts: Vec<&str> = points.children().filter(|c| c.has_tag_name("point")).map(|p| p.text().unwrap_or("").trim()).collect();
    if pts.len() < 4 {
        return Err(format!("<points> has {} <point>, expected 5 (4 corners, closed)", pts.len()));
    }
    let mut quad = [0f32; 8];
    for (i, p) in pts[..4].iter().enumerate() {
        let (x, y) = p.split_once(',').ok_or_else(|| format!("<point> {p:?} is not \"x,y\""))?;
        for (j, v) in [x, y].into_iter().enumerate() {
            let v: f32 = v.trim().parse().map_err(|_| format!("bad coordinate in <point> {p:?}"))?;
            if !v.is_finite() {
                return Err(format!("non-finite coordinate in <point> {p:?}"));
            }
            quad[2 * i + j] = v;
        }
    }
    item(name, classes, |class_id| Object { quad: Quad::new(quad), class_id, difficulty: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(name: &str, points: &str) -> String {
        let pts: String = points.split(' ').map(|p| format!("<point>{p}</point>")).collect();
        format!("<object><coordinate>pixel</coordinate><possibleresult><name>{name}</name></possibleresult><points>{pts}</points></object>\n")
    }

    #[test]
    fn reads_multi_word_names_first_four_points_and_skips_other() {
        let c = ClassIndex::new(&crate::classes::CLASSES);
        let xml = format!(
            "<annotation>\n<size><width>10</width></size>\n<objects>\n{}{}{}{}{}</objects>\n</annotation>",
            obj("Small Car", "1.5,2 3,4 5,6 7,8 1.5,2"),
            obj("other-vehicle", "1,2 3,4 5,6 7,8 1,2"),
            obj("Spaceship", "1,2 3,4 5,6 7,8 1,2"),
            obj("Bus", "1,2 3,4 5,6"),
            obj("Bus", "1;2 3,4 5,6 7,8 1,2"),
        );
        let items = parse(&xml, &c).unwrap();
        let Ok(Item::Object(o)) = &items[0] else { panic!("{:?}", items[0]) };
        assert_eq!((o.class_id, o.quad.pts), (18, [1.5, 2., 3., 4., 5., 6., 7., 8.]));
        assert_eq!(items[1], Ok(Item::Other("other-vehicle".into())));
        let (line, msg) = items[2].as_ref().unwrap_err();
        assert_eq!(*line, 6);
        assert!(msg.contains("unknown class \"Spaceship\""));
        assert!(items[3].as_ref().unwrap_err().1.contains("has 3 <point>"));
        assert!(items[4].as_ref().unwrap_err().1.contains("not \"x,y\""));
        assert!(parse("<annotation><objects>", &c).unwrap_err().contains("XML"));
        assert!(parse("<annotation/>", &c).unwrap_err().contains("<objects>"));
    }
}
