//! The evaluation itself: per-image IoU and matching in parallel, then per-class AP (mmrotate's
//! `eval_rbbox_map` / `tpfp_default`) and the mF1 confusion matrix (LMMRotate's f1_metric.py).

use crate::ap::{average_precision, curve, ApMode, Outcome};
use crate::error::EvalError;
use crate::f1::{ConfusionMatrix, F1Summary};
use crate::input::{check_class, EvalImage, EvalInput};
use crate::report::{ClassRow, MeanSd, Report, TieStats};
use crate::rng::SplitMix64;
use lmmrotate_geometry::PreparedBox;
use rayon::prelude::*;

/// Options of [`evaluate`].
#[derive(Clone, Debug, PartialEq)]
pub struct EvalOptions {
    /// IoU at which a detection matches a ground truth, for mAP and mF1 (upstream: 0.5, `>=`).
    pub iou_thr: f64,
    /// Number of random tie orders over which to report mean ± sd of mAP_nc (0: none).
    pub tie_samples: usize,
    /// Seed of those orders.
    pub tie_seed: u64,
    /// Detections with a lower score are left out of mF1 (upstream's `score_thr`, default 0).
    pub f1_score_thr: f32,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions { iou_thr: 0.5, tie_samples: 0, tie_seed: 0, f1_score_thr: 0.0 }
    }
}

/// What a detection's best ground truth of its class is, independent of processing order:
/// upstream takes the argmax over the IoU row (first maximum; ground truth before ignored
/// ground truth) and never falls back to the second best.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Target {
    /// Best IoU below the threshold, or no ground truth of this class in the image.
    Miss,
    /// The best match is an ignored ground truth.
    Ignored,
    /// Index of the ground truth among all ground truths of this class in the dataset.
    Gt(u32),
}

/// One class's detections over the dataset, in dataset order (images as given, detections in
/// model order), which is upstream's concatenation order.
#[derive(Default)]
struct ClassDets {
    scores: Vec<f32>,
    targets: Vec<Target>,
    num_gts: usize,
}

struct ImageResult {
    /// `(class, score, target)` per detection, in model order.
    dets: Vec<(usize, f32, Target)>,
    cm: ConfusionMatrix,
}

/// Evaluates `input`: mAP_nc (every score taken as 1.0), mAP with scores when the input has
/// them, mF1 and per-class rows.
///
/// Tie order: all detections are ranked by a stable sort on descending score, over the
/// concatenation of the images in `input` order with each image's detections in model order; the
/// greedy matching in each image follows the same order. For mAP_nc every score ties, so the
/// ranking is exactly that concatenation. Upstream uses NumPy's unstable argsort there, whose
/// order is an implementation artefact; `tie_samples` measures how much the order matters.
pub fn evaluate(input: &EvalInput, opts: &EvalOptions) -> Result<Report, EvalError> {
    if !(opts.iou_thr > 0.0 && opts.iou_thr <= 1.0) {
        return Err(EvalError::BadOption { name: "iou_thr", value: opts.iou_thr, expected: "0 < iou_thr <= 1" });
    }
    if !opts.f1_score_thr.is_finite() {
        return Err(EvalError::BadOption { name: "f1_score_thr", value: opts.f1_score_thr as f64, expected: "finite" });
    }
    let c = input.classes.len();
    if c == 0 {
        return Err(EvalError::NoClasses);
    }
    for img in &input.images {
        for class in img.gts.iter().chain(&img.ignored).map(|g| g.class).chain(img.dets.iter().map(|d| d.class)) {
            check_class(&img.id, class, c)?;
        }
    }

    // Per-class ground-truth numbering: image i's first gt of class k gets index gt_base[i][k].
    let mut gt_base: Vec<Vec<u32>> = Vec::with_capacity(input.images.len());
    let mut running = vec![0u32; c];
    for img in &input.images {
        gt_base.push(running.clone());
        for g in &img.gts {
            running[g.class] += 1;
        }
    }

    let results: Vec<ImageResult> =
        input.images.par_iter().zip(&gt_base).map(|(img, base)| match_image(img, base, c, opts)).collect();

    let mut per_class: Vec<ClassDets> = (0..c).map(|_| ClassDets::default()).collect();
    for (k, cd) in per_class.iter_mut().enumerate() {
        cd.num_gts = running[k] as usize;
    }
    let mut cm = ConfusionMatrix::new(c);
    for r in &results {
        for &(class, score, target) in &r.dets {
            per_class[class].scores.push(score);
            per_class[class].targets.push(target);
        }
        cm = cm.merge(&r.cm);
    }
    drop(results);

    let nc = per_class.par_iter().map(|cd| ranked_ap(cd, true)).collect::<Vec<_>>();
    let scored = input.has_scores.then(|| per_class.par_iter().map(|cd| ranked_ap(cd, false)).collect::<Vec<_>>());

    let with_gts: Vec<usize> = (0..c).filter(|&k| per_class[k].num_gts > 0).collect();
    let mean = |f: &dyn Fn(usize) -> f64| {
        if with_gts.is_empty() {
            0.0
        } else {
            with_gts.iter().map(|&k| f(k)).sum::<f64>() / with_gts.len() as f64
        }
    };

    let tie_samples = (opts.tie_samples > 0).then(|| tie_stats(&per_class, &with_gts, opts));
    let f1_entries = cm.per_class();
    let f1 = F1Summary::with_background(&cm);
    let f1_nb = F1Summary::without_background(&cm);

    let rows = (0..c)
        .map(|k| ClassRow {
            class: input.classes[k].clone(),
            gts: per_class[k].num_gts,
            dets: per_class[k].targets.len(),
            recall: nc[k].recall,
            precision: nc[k].precision,
            ap_nc_11points: nc[k].ap11,
            ap_nc_area: nc[k].ap_area,
            ap_11points: scored.as_ref().map(|s| s[k].ap11),
            ap_area: scored.as_ref().map(|s| s[k].ap_area),
            f1_precision: f1_entries[k].0,
            f1_recall: f1_entries[k].1,
        })
        .collect();

    Ok(Report {
        map_nc_11points: mean(&|k| nc[k].ap11),
        map_nc_area: mean(&|k| nc[k].ap_area),
        map_11points: scored.as_ref().map(|s| mean(&|k| s[k].ap11)),
        map_area: scored.as_ref().map(|s| mean(&|k| s[k].ap_area)),
        mf1: f1.f1,
        mean_precision: f1.mean_precision,
        mean_recall: f1.mean_recall,
        mf1_no_background: f1_nb.f1,
        mean_precision_no_background: f1_nb.mean_precision,
        mean_recall_no_background: f1_nb.mean_recall,
        tie_samples,
        iou_thr: opts.iou_thr,
        images: input.images.len(),
        detections: input.images.iter().map(|i| i.dets.len()).sum(),
        skipped_lines: input.skipped_lines,
        per_class: rows,
        confusion_matrix: cm.rows(),
    })
}

/// IoUs of one image, each computed once and used by both metrics.
fn match_image(img: &EvalImage, gt_base: &[u32], c: usize, opts: &EvalOptions) -> ImageResult {
    let thr = opts.iou_thr;
    let gts: Vec<PreparedBox> = img.gts.iter().map(|g| PreparedBox::new(&g.rbox)).collect();
    let ignored: Vec<PreparedBox> = img.ignored.iter().map(|g| PreparedBox::new(&g.rbox)).collect();
    // Position of each gt among the image's gts of its class.
    let mut seen = vec![0u32; c];
    let local: Vec<u32> = img
        .gts
        .iter()
        .map(|g| {
            seen[g.class] += 1;
            seen[g.class] - 1
        })
        .collect();
    let mut cm = ConfusionMatrix::new(c);
    let mut matched = vec![false; gts.len()];
    let mut dets = Vec::with_capacity(img.dets.len());
    for d in &img.dets {
        let dp = PreparedBox::new(&d.rbox);
        let in_f1 = d.score >= opts.f1_score_thr;
        let mut best = (f64::NEG_INFINITY, Target::Miss);
        let mut hit_any = false;
        for (j, g) in img.gts.iter().enumerate() {
            let same = g.class == d.class;
            if !same && !in_f1 {
                continue;
            }
            let iou = dp.iou(&gts[j]);
            if same && iou > best.0 {
                best = (iou, Target::Gt(gt_base[g.class] + local[j]));
            }
            // mF1 counts every ground truth the detection reaches, of any class.
            if in_f1 && iou >= thr {
                cm.add(g.class, d.class, 1);
                hit_any = true;
                matched[j] |= same;
            }
        }
        for (j, g) in img.ignored.iter().enumerate() {
            if g.class == d.class {
                let iou = dp.iou(&ignored[j]);
                if iou > best.0 {
                    best = (iou, Target::Ignored);
                }
            }
        }
        if in_f1 && !hit_any {
            cm.add(cm.background(), d.class, 1);
        }
        let target = if best.0 >= thr { best.1 } else { Target::Miss };
        dets.push((d.class, d.score, target));
    }
    for (j, g) in img.gts.iter().enumerate() {
        if !matched[j] {
            cm.add(g.class, cm.background(), 1);
        }
    }
    ImageResult { dets, cm }
}

struct ClassAp {
    ap11: f64,
    ap_area: f64,
    recall: f64,
    precision: f64,
}

/// Greedy matching in `order`: the first detection to reach a ground truth is a TP, later ones
/// FP; matches on ignored ground truth are neither. Returns outcomes by detection position.
fn greedy(targets: &[Target], order: impl Iterator<Item = usize>, covered: &mut [bool]) -> Vec<Outcome> {
    let mut out = vec![Outcome::Fp; targets.len()];
    for i in order {
        out[i] = match targets[i] {
            Target::Miss => Outcome::Fp,
            Target::Ignored => Outcome::Neither,
            Target::Gt(g) if !covered[g as usize] => {
                covered[g as usize] = true;
                Outcome::Tp
            }
            Target::Gt(_) => Outcome::Fp,
        };
    }
    out
}

fn ap_of(outcomes: &[Outcome], ranking: impl Iterator<Item = usize>, num_gts: usize) -> ClassAp {
    let (r, p) = curve(ranking.map(|i| outcomes[i]), num_gts);
    ClassAp {
        ap11: average_precision(&r, &p, ApMode::Points11),
        ap_area: average_precision(&r, &p, ApMode::Area),
        recall: r.last().copied().unwrap_or(0.0),
        precision: p.last().copied().unwrap_or(0.0),
    }
}

/// AP in the deterministic order: a stable sort on descending score (no sort at all for mAP_nc,
/// where every score is 1.0).
fn ranked_ap(cd: &ClassDets, no_scores: bool) -> ClassAp {
    let mut order: Vec<usize> = (0..cd.targets.len()).collect();
    if !no_scores {
        order.sort_by(|&a, &b| cd.scores[b].total_cmp(&cd.scores[a]));
    }
    let mut covered = vec![false; cd.num_gts];
    let outcomes = greedy(&cd.targets, order.iter().copied(), &mut covered);
    ap_of(&outcomes, order.into_iter(), cd.num_gts)
}

/// mAP_nc over random tie orders. Each sample draws two independent permutations per class: one
/// for the greedy matching (its restriction to an image is a uniform random order of that
/// image's detections) and one for the dataset-wide ranking, like upstream's two argsorts.
fn tie_stats(per_class: &[ClassDets], with_gts: &[usize], opts: &EvalOptions) -> TieStats {
    let mut seeder = SplitMix64::new(opts.tie_seed);
    let seeds: Vec<u64> = (0..opts.tie_samples).map(|_| seeder.next_u64()).collect();
    let maps: Vec<(f64, f64)> = seeds
        .par_iter()
        .map(|&seed| {
            let mut rng = SplitMix64::new(seed);
            let (mut s11, mut sarea) = (0.0, 0.0);
            for &k in with_gts {
                let cd = &per_class[k];
                let n = cd.targets.len();
                let mut match_order: Vec<usize> = (0..n).collect();
                rng.shuffle(&mut match_order);
                let mut covered = vec![false; cd.num_gts];
                let outcomes = greedy(&cd.targets, match_order.into_iter(), &mut covered);
                let mut ranking: Vec<usize> = (0..n).collect();
                rng.shuffle(&mut ranking);
                let ap = ap_of(&outcomes, ranking.into_iter(), cd.num_gts);
                s11 += ap.ap11;
                sarea += ap.ap_area;
            }
            let m = with_gts.len().max(1) as f64;
            (s11 / m, sarea / m)
        })
        .collect();
    let a: Vec<f64> = maps.iter().map(|m| m.0).collect();
    let b: Vec<f64> = maps.iter().map(|m| m.1).collect();
    TieStats {
        samples: opts.tie_samples,
        seed: opts.tie_seed,
        map_nc_11points: MeanSd::of(&a),
        map_nc_area: MeanSd::of(&b),
    }
}
