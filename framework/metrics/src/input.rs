//! What the metrics consume: ground truth and predictions per image as read from files (quads),
//! and the evaluation input built from them (minimum-area rotated boxes, as upstream).

use crate::classes::ClassIndex;
use crate::error::EvalError;
use lmmrotate_geometry::{AngleConvention, Quad, RBox};
use rayon::prelude::*;
use std::collections::HashMap;

/// One annotated object of a DOTA annfile.
#[derive(Clone, Debug, PartialEq)]
pub struct GtObject {
    pub class: usize,
    pub quad: Quad,
    /// DOTA difficulty (0, 1; 2 for objects truncated by patch splitting).
    pub difficulty: u32,
}

/// The annotation of one image.
#[derive(Clone, Debug, PartialEq)]
pub struct GtImage {
    pub id: String,
    pub objects: Vec<GtObject>,
}

/// One predicted object.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    pub class: usize,
    pub quad: Quad,
    /// `None` for models that give no confidence (LMMRotate: every box counts as 1.0).
    pub score: Option<f32>,
}

/// The predictions for one image, in the order the model produced them.
#[derive(Clone, Debug, PartialEq)]
pub struct PredImage {
    pub id: String,
    pub detections: Vec<Detection>,
}

/// A labelled rotated box.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Labeled {
    pub class: usize,
    pub rbox: RBox,
}

/// A labelled rotated box with a score.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Scored {
    pub class: usize,
    pub rbox: RBox,
    pub score: f32,
}

/// One image as the metrics see it.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalImage {
    pub id: String,
    pub gts: Vec<Labeled>,
    /// Ground truth that neither counts as a miss nor makes a detection on it a false positive
    /// (mmrotate's `ignored_instances`); mF1 does not use it, as upstream.
    pub ignored: Vec<Labeled>,
    /// In the model's output order (it decides ties).
    pub dets: Vec<Scored>,
}

/// Everything [`crate::evaluate`] needs. Image order is significant: it is the tie order.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalInput {
    pub classes: Vec<String>,
    pub images: Vec<EvalImage>,
    /// True when every detection came with a score: mAP with scores is reported too.
    pub has_scores: bool,
    /// Lines the readers skipped with `skip_bad`, copied into the report.
    pub skipped_lines: usize,
}

/// Options of [`EvalInput::build`].
#[derive(Clone, Debug, PartialEq)]
pub struct BuildOptions {
    /// Objects with a difficulty above this are ignored. mmrotate's DOTA dataset uses
    /// `diff_thr = 100`, i.e. no object is ignored; DOTA-style "exclude difficult" is 0.
    pub difficulty_thr: u32,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions { difficulty_thr: 100 }
    }
}

fn to_rbox(q: &Quad) -> RBox {
    RBox::from_quad(q, AngleConvention::OpenCv)
}

impl EvalInput {
    /// Joins predictions to ground truth by image id. Images keep the order of `gts` (the
    /// annfile reader gives ascending file names); images without predictions have none; a
    /// prediction for an image without ground truth is an error (most likely a naming mismatch).
    /// Every quad becomes its minimum-area rectangle, as upstream's `qbox2rbox`.
    pub fn build(
        classes: &ClassIndex,
        gts: &[GtImage],
        preds: &[PredImage],
        opts: &BuildOptions,
    ) -> Result<Self, EvalError> {
        let n = classes.len();
        let mut pred_by_id: HashMap<&str, &PredImage> = HashMap::with_capacity(preds.len());
        for p in preds {
            if pred_by_id.insert(p.id.as_str(), p).is_some() {
                return Err(EvalError::DuplicatePredImage { id: p.id.clone() });
            }
        }
        let mut gt_ids: HashMap<&str, ()> = HashMap::with_capacity(gts.len());
        for g in gts {
            if gt_ids.insert(g.id.as_str(), ()).is_some() {
                return Err(EvalError::DuplicateGtImage { id: g.id.clone() });
            }
        }
        if let Some(p) = preds.iter().find(|p| !gt_ids.contains_key(p.id.as_str())) {
            return Err(EvalError::UnknownImage { id: p.id.clone() });
        }
        let with_score = preds.iter().flat_map(|p| &p.detections).filter(|d| d.score.is_some()).count();
        let total = preds.iter().map(|p| p.detections.len()).sum::<usize>();
        let has_scores = with_score > 0;
        if has_scores && with_score != total {
            let p = preds
                .iter()
                .find(|p| p.detections.iter().any(|d| d.score.is_none()))
                .expect("a detection without score");
            return Err(EvalError::MixedScores { id: p.id.clone() });
        }
        let images = gts
            .par_iter()
            .map(|g| {
                let mut gt = Vec::new();
                let mut ignored = Vec::new();
                for o in &g.objects {
                    check_class(&g.id, o.class, n)?;
                    let l = Labeled { class: o.class, rbox: to_rbox(&o.quad) };
                    if o.difficulty > opts.difficulty_thr {
                        ignored.push(l);
                    } else {
                        gt.push(l);
                    }
                }
                let dets = match pred_by_id.get(g.id.as_str()) {
                    None => Vec::new(),
                    Some(p) => p
                        .detections
                        .iter()
                        .map(|d| {
                            check_class(&g.id, d.class, n)?;
                            let score = d.score.unwrap_or(1.0);
                            if !score.is_finite() {
                                return Err(EvalError::BadScore { id: g.id.clone(), score });
                            }
                            Ok(Scored { class: d.class, rbox: to_rbox(&d.quad), score })
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                };
                Ok(EvalImage { id: g.id.clone(), gts: gt, ignored, dets })
            })
            .collect::<Result<Vec<_>, EvalError>>()?;
        Ok(EvalInput { classes: classes.names().to_vec(), images, has_scores, skipped_lines: 0 })
    }
}

pub(crate) fn check_class(id: &str, class: usize, classes: usize) -> Result<(), EvalError> {
    if class < classes {
        Ok(())
    } else {
        Err(EvalError::ClassOutOfRange { id: id.to_string(), class, classes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sq(x: f32) -> Quad {
        [x, 0.0, x + 10.0, 0.0, x + 10.0, 10.0, x, 10.0]
    }

    #[test]
    fn joins_by_id_and_checks_scores() {
        let classes = ClassIndex::new(["a", "b"]).unwrap();
        let gts = vec![
            GtImage { id: "i1".into(), objects: vec![GtObject { class: 0, quad: sq(0.0), difficulty: 0 }] },
            GtImage { id: "i2".into(), objects: vec![GtObject { class: 1, quad: sq(5.0), difficulty: 2 }] },
        ];
        let preds =
            vec![PredImage { id: "i2".into(), detections: vec![Detection { class: 1, quad: sq(5.0), score: None }] }];
        let inp = EvalInput::build(&classes, &gts, &preds, &BuildOptions::default()).unwrap();
        assert!(!inp.has_scores);
        assert_eq!(inp.images[0].dets.len(), 0);
        assert_eq!(inp.images[1].dets[0].score, 1.0);
        assert_eq!(inp.images[1].gts.len(), 1);
        let strict = EvalInput::build(&classes, &gts, &preds, &BuildOptions { difficulty_thr: 1 }).unwrap();
        assert_eq!((strict.images[1].gts.len(), strict.images[1].ignored.len()), (0, 1));

        let unknown = vec![PredImage { id: "zz".into(), detections: vec![] }];
        assert_eq!(
            EvalInput::build(&classes, &gts, &unknown, &BuildOptions::default()),
            Err(EvalError::UnknownImage { id: "zz".into() })
        );
        let mixed = vec![PredImage {
            id: "i1".into(),
            detections: vec![
                Detection { class: 0, quad: sq(0.0), score: Some(0.5) },
                Detection { class: 0, quad: sq(0.0), score: None },
            ],
        }];
        assert!(matches!(
            EvalInput::build(&classes, &gts, &mixed, &BuildOptions::default()),
            Err(EvalError::MixedScores { .. })
        ));
        let bad =
            vec![PredImage { id: "i1".into(), detections: vec![Detection { class: 7, quad: sq(0.0), score: None }] }];
        assert!(matches!(
            EvalInput::build(&classes, &gts, &bad, &BuildOptions::default()),
            Err(EvalError::ClassOutOfRange { class: 7, .. })
        ));
    }
}
