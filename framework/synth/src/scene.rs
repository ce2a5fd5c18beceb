//! Scene layout: ground, water and roads as fields over the image, and the placement of objects
//! (class, size, angle, position) under the crowding and occlusion controls.

use crate::noise::ValueNoise;
use crate::rng::Rng;
use lmmrotate_geometry::{clip_convex, polygon_area, Point};
use serde::{Deserialize, Serialize};
use std::f32::consts::PI;

/// Class names of the synthetic dataset; the class id is the index. Names follow DOTA's spelling
/// so that the response formats' class-name normalisation applies unchanged.
pub const CLASSES: [&str; 6] = ["plane", "ship", "storage-tank", "large-vehicle", "small-vehicle", "tennis-court"];

/// The object classes, in the order of [`CLASSES`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Plane,
    Ship,
    Tank,
    LargeVehicle,
    SmallVehicle,
    TennisCourt,
}

impl Kind {
    pub const ALL: [Kind; 6] =
        [Kind::Plane, Kind::Ship, Kind::Tank, Kind::LargeVehicle, Kind::SmallVehicle, Kind::TennisCourt];

    pub fn id(self) -> usize {
        Kind::ALL.iter().position(|k| *k == self).expect("listed")
    }

    /// Relative frequency: vehicles are the most common objects of aerial scenes.
    fn weight(self) -> f32 {
        match self {
            Kind::Plane => 1.0,
            Kind::Ship => 1.2,
            Kind::Tank => 1.0,
            Kind::LargeVehicle => 1.2,
            Kind::SmallVehicle => 2.0,
            Kind::TennisCourt => 0.6,
        }
    }

    /// Length and width in pixels at scale 1 (the length lies along the object's angle).
    fn size(self, rng: &mut Rng) -> (f32, f32) {
        match self {
            Kind::Plane => {
                let l = rng.range(40.0, 80.0);
                (l, l * rng.range(0.9, 1.1))
            }
            Kind::Ship => {
                let l = rng.range(36.0, 110.0);
                (l, l / rng.range(3.6, 5.5))
            }
            Kind::Tank => {
                let d = rng.range(16.0, 44.0);
                (d, d)
            }
            Kind::LargeVehicle => {
                let l = rng.range(22.0, 36.0);
                (l, l / rng.range(2.8, 3.4))
            }
            Kind::SmallVehicle => {
                let l = rng.range(10.0, 15.0);
                (l, l / rng.range(2.0, 2.3))
            }
            Kind::TennisCourt => {
                let l = rng.range(48.0, 60.0);
                (l, l / 2.1)
            }
        }
    }

    /// Smallest length in pixels whatever the scale, so that tiny images keep visible objects.
    fn min_len(self) -> f32 {
        match self {
            Kind::SmallVehicle => 7.0,
            Kind::LargeVehicle => 12.0,
            Kind::Tank => 9.0,
            _ => 18.0,
        }
    }

    /// Apparent height above the ground, as a fraction of the width, for the shadow offset.
    pub fn height(self) -> f32 {
        match self {
            Kind::Plane => 0.06,
            Kind::Ship => 0.12,
            Kind::Tank => 0.22,
            Kind::LargeVehicle => 0.35,
            Kind::SmallVehicle => 0.3,
            Kind::TennisCourt => 0.0,
        }
    }
}

/// What a scene looks like. Every field has a default; JSON configs may give any subset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SceneConfig {
    pub width: u32,
    pub height: u32,
    /// Objects per image, drawn uniformly in `[min_objects, max_objects]` (fewer when the scene
    /// has no room left).
    pub min_objects: u32,
    pub max_objects: u32,
    /// Probability that an object is placed in a row next to one of its class (parking rows, tank
    /// farms, moored ships), in `[0, 1]`.
    pub crowding: f32,
    /// Largest fraction of an object's area that later objects may cover, in `[0, 0.9]`; 0 means
    /// objects never overlap.
    pub max_occlusion: f32,
    /// Object size multiplier; `None` scales with the image (`min(width, height) / 512`, at
    /// least 0.5).
    pub object_scale: Option<f32>,
    /// Probability that a scene has a water body (ships appear only on water).
    pub water: f32,
    /// Most roads per scene.
    pub max_roads: u32,
}

impl Default for SceneConfig {
    fn default() -> Self {
        SceneConfig {
            width: 512,
            height: 512,
            min_objects: 6,
            max_objects: 24,
            crowding: 0.4,
            max_occlusion: 0.0,
            object_scale: None,
            water: 0.6,
            max_roads: 2,
        }
    }
}

impl SceneConfig {
    /// Checks ranges; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !(16..=16384).contains(&self.width) || !(16..=16384).contains(&self.height) {
            return Err(format!("width/height must be in 16..=16384, got {}x{}", self.width, self.height));
        }
        if self.min_objects > self.max_objects {
            return Err(format!("min_objects {} > max_objects {}", self.min_objects, self.max_objects));
        }
        if !(0.0..=1.0).contains(&self.crowding) {
            return Err(format!("crowding must be in [0, 1], got {}", self.crowding));
        }
        if !(0.0..=0.9).contains(&self.max_occlusion) {
            return Err(format!("max_occlusion must be in [0, 0.9], got {}", self.max_occlusion));
        }
        if !(0.0..=1.0).contains(&self.water) {
            return Err(format!("water must be in [0, 1], got {}", self.water));
        }
        if let Some(s) = self.object_scale {
            if !(s > 0.05 && s < 20.0) {
                return Err(format!("object_scale must be in (0.05, 20), got {s}"));
            }
        }
        Ok(())
    }

    pub fn scale(&self) -> f32 {
        self.object_scale.unwrap_or((self.width.min(self.height) as f32 / 512.0).max(0.5))
    }
}

/// A placed object: centre, length along `angle`, width across it, and its colours.
#[derive(Clone, Debug)]
pub struct Placed {
    pub kind: Kind,
    pub cx: f32,
    pub cy: f32,
    pub len: f32,
    pub wid: f32,
    /// Radians; in the y-down image frame a positive angle turns clockwise on screen.
    pub angle: f32,
    pub style: Style,
}

/// Colours and a variant number for the painter.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub body: [f32; 3],
    pub accent: [f32; 3],
    pub variant: u32,
}

impl Placed {
    /// Corners clockwise on screen: rear-left, front-left, front-right, rear-right of the object
    /// seen along its angle (top-left, top-right, bottom-right, bottom-left at angle 0).
    pub fn corners(&self) -> [Point; 4] {
        let (s, c) = (self.angle as f64).sin_cos();
        let (hl, hw) = (self.len as f64 / 2.0, self.wid as f64 / 2.0);
        let (cx, cy) = (self.cx as f64, self.cy as f64);
        [(-hl, -hw), (hl, -hw), (hl, hw), (-hl, hw)].map(|(u, v)| [cx + u * c - v * s, cy + u * s + v * c])
    }
}

/// A straight road across the image.
#[derive(Clone, Debug)]
pub struct Road {
    pub x0: f32,
    pub y0: f32,
    pub angle: f32,
    pub half_width: f32,
}

impl Road {
    /// Signed distance across the road and position along it.
    pub fn local(&self, x: f32, y: f32) -> (f32, f32) {
        let (s, c) = self.angle.sin_cos();
        let (dx, dy) = (x - self.x0, y - self.y0);
        (-dx * s + dy * c, dx * c + dy * s)
    }
}

/// Water as a half-plane with a noisy shore.
#[derive(Clone, Debug)]
pub struct Water {
    pub x0: f32,
    pub y0: f32,
    pub nx: f32,
    pub ny: f32,
    pub wobble: f32,
    pub noise: ValueNoise,
}

impl Water {
    /// Distance inland from the shore in pixels: negative on water.
    pub fn shore_distance(&self, x: f32, y: f32) -> f32 {
        (x - self.x0) * self.nx + (y - self.y0) * self.ny + (self.noise.fbm(x, y, 70.0, 3) - 0.5) * self.wobble
    }
}

/// The ground palette and textures of one scene.
#[derive(Clone, Debug)]
pub struct Ground {
    pub colors: [[f32; 3]; 3],
    pub noise: ValueNoise,
    pub fields: Vec<(Placed, [f32; 3])>,
    pub cell: f32,
}

/// Everything the painter needs.
#[derive(Clone, Debug)]
pub struct Layout {
    pub width: u32,
    pub height: u32,
    pub ground: Ground,
    pub water: Option<Water>,
    pub roads: Vec<Road>,
    pub objects: Vec<Placed>,
    /// Shadow direction (unit) of the scene's sun.
    pub sun: (f32, f32),
    pub pixel_seed: u64,
}

fn jitter(rng: &mut Rng, c: [f32; 3], amount: f32) -> [f32; 3] {
    let k = rng.range(1.0 - amount, 1.0 + amount);
    c.map(|v| (v * k + rng.range(-6.0, 6.0)).clamp(0.0, 255.0))
}

fn pick(rng: &mut Rng, palette: &[[f32; 3]]) -> [f32; 3] {
    palette[rng.below(palette.len())]
}

fn style_for(kind: Kind, rng: &mut Rng) -> Style {
    let variant = rng.next_u64() as u32;
    let (body, accent) = match kind {
        Kind::Plane => {
            let g = rng.range(195.0, 235.0);
            ([g, g, g + 4.0], pick(rng, &[[200.0, 60.0, 50.0], [40.0, 80.0, 160.0], [g, g, g]]))
        }
        Kind::Ship => (
            pick(rng, &[[150.0, 150.0, 155.0], [135.0, 62.0, 48.0], [62.0, 72.0, 92.0], [215.0, 215.0, 210.0]]),
            [235.0, 235.0, 230.0],
        ),
        Kind::Tank => {
            let g = rng.range(195.0, 240.0);
            ([g, g, g - 4.0], [g * 0.8, g * 0.8, g * 0.78])
        }
        Kind::LargeVehicle => (
            pick(rng, &[[225.0, 225.0, 220.0], [170.0, 172.0, 175.0], [60.0, 100.0, 160.0], [70.0, 120.0, 80.0], [190.0, 80.0, 50.0]]),
            pick(rng, &[[210.0, 40.0, 40.0], [230.0, 230.0, 230.0], [40.0, 60.0, 140.0], [230.0, 190.0, 40.0]]),
        ),
        Kind::SmallVehicle => (
            pick(rng, &[[235.0, 235.0, 235.0], [30.0, 30.0, 34.0], [175.0, 178.0, 182.0], [180.0, 30.0, 35.0], [40.0, 70.0, 150.0], [110.0, 112.0, 115.0]]),
            [35.0, 42.0, 55.0],
        ),
        Kind::TennisCourt => (
            pick(rng, &[[70.0, 125.0, 85.0], [55.0, 95.0, 150.0], [175.0, 95.0, 65.0]]),
            [240.0, 240.0, 240.0],
        ),
    };
    Style { body: jitter(rng, body, 0.06), accent, variant }
}

/// Draws the layout of one scene from `rng`.
pub fn layout(cfg: &SceneConfig, rng: &mut Rng) -> Layout {
    let (w, h) = (cfg.width as f32, cfg.height as f32);
    let scale = cfg.scale();
    let ground = ground(cfg, rng, scale);
    let water = rng.chance(cfg.water).then(|| {
        let a = rng.range(0.0, 2.0 * PI);
        let (ny, nx) = a.sin_cos();
        // Put the shore so that water covers roughly 15-45 % of the image.
        let t = rng.range(0.15, 0.45);
        let reach = (w * nx.abs() + h * ny.abs()) * 0.5;
        let d = (0.5 - t) * 2.0 * reach;
        Water {
            x0: w / 2.0 - nx * d,
            y0: h / 2.0 - ny * d,
            nx,
            ny,
            wobble: 70.0 * scale,
            noise: ValueNoise::new(rng.next_u64()),
        }
    });
    let n_roads = if cfg.max_roads == 0 { 0 } else { rng.below(cfg.max_roads as usize + 1) };
    let roads: Vec<Road> = (0..n_roads)
        .map(|_| Road {
            x0: rng.range(0.1, 0.9) * w,
            y0: rng.range(0.1, 0.9) * h,
            angle: rng.range(0.0, PI),
            half_width: rng.range(7.0, 12.0) * scale,
        })
        .collect();
    let sun_a = rng.range(0.0, 2.0 * PI);
    let mut layout = Layout {
        width: cfg.width,
        height: cfg.height,
        ground,
        water,
        roads,
        objects: Vec::new(),
        sun: (sun_a.cos(), sun_a.sin()),
        pixel_seed: rng.next_u64(),
    };
    place_objects(cfg, rng, scale, &mut layout);
    layout
}

fn ground(cfg: &SceneConfig, rng: &mut Rng, scale: f32) -> Ground {
    let palette = [
        [92.0, 114.0, 66.0],
        [148.0, 134.0, 102.0],
        [60.0, 82.0, 50.0],
        [172.0, 160.0, 126.0],
        [118.0, 122.0, 88.0],
    ];
    let mut colors = [[0.0; 3]; 3];
    for c in colors.iter_mut() {
        let base = pick(rng, &palette);
        *c = jitter(rng, base, 0.08);
    }
    let (w, h) = (cfg.width as f32, cfg.height as f32);
    let fields = (0..rng.below(5))
        .map(|_| {
            let l = rng.range(80.0, 220.0) * scale;
            let p = Placed {
                kind: Kind::TennisCourt,
                cx: rng.range(0.0, w),
                cy: rng.range(0.0, h),
                len: l,
                wid: l * rng.range(0.4, 0.9),
                angle: rng.range(0.0, PI),
                style: Style { body: [0.0; 3], accent: [0.0; 3], variant: 0 },
            };
            let base = pick(rng, &palette);
            (p, jitter(rng, base, 0.1))
        })
        .collect();
    Ground { colors, noise: ValueNoise::new(rng.next_u64()), fields, cell: 110.0 * scale }
}

fn choose_kind(rng: &mut Rng, has_water: bool) -> Kind {
    let kinds: Vec<Kind> = Kind::ALL.into_iter().filter(|k| has_water || *k != Kind::Ship).collect();
    let total: f32 = kinds.iter().map(|k| k.weight()).sum();
    let mut x = rng.range(0.0, total);
    for k in &kinds {
        x -= k.weight();
        if x < 0.0 {
            return *k;
        }
    }
    kinds[kinds.len() - 1]
}

fn place_objects(cfg: &SceneConfig, rng: &mut Rng, scale: f32, layout: &mut Layout) {
    let span = (cfg.max_objects - cfg.min_objects) as usize;
    let target = cfg.min_objects as usize + rng.below(span + 1);
    // Area of each object and how much of it later objects already cover.
    let mut areas: Vec<f64> = Vec::new();
    let mut covered: Vec<f64> = Vec::new();
    let mut polys: Vec<[Point; 4]> = Vec::new();
    let mut attempts = 0;
    while layout.objects.len() < target && attempts < target * 60 {
        attempts += 1;
        let cand = if !layout.objects.is_empty() && rng.chance(cfg.crowding) {
            let base = layout.objects[rng.below(layout.objects.len())].clone();
            neighbour(&base, cfg.max_occlusion, rng)
        } else {
            let kind = choose_kind(rng, layout.water.is_some());
            fresh(kind, scale, layout, rng)
        };
        if !fits(&cand, layout) {
            continue;
        }
        let poly = cand.corners();
        let mut extra = vec![0.0; polys.len()];
        let mut ok = true;
        for (i, p) in polys.iter().enumerate() {
            let inter = polygon_area(&clip_convex(p, &poly));
            if inter > 0.0 {
                if cfg.max_occlusion == 0.0 || (covered[i] + inter) / areas[i] > cfg.max_occlusion as f64 {
                    ok = false;
                    break;
                }
                extra[i] = inter;
            }
        }
        if !ok {
            continue;
        }
        for (c, e) in covered.iter_mut().zip(&extra) {
            *c += e;
        }
        areas.push(polygon_area(&poly));
        covered.push(0.0);
        polys.push(poly);
        layout.objects.push(cand);
    }
}

fn fresh(kind: Kind, scale: f32, layout: &Layout, rng: &mut Rng) -> Placed {
    let (mut len, mut wid) = kind.size(rng);
    let s = scale.max(kind.min_len() / len);
    len *= s;
    wid *= s;
    let angle = if kind == Kind::Tank { 0.0 } else { rng.range(-PI, PI) };
    let style = style_for(kind, rng);
    let (w, h) = (layout.width as f32, layout.height as f32);
    let on_road = matches!(kind, Kind::SmallVehicle | Kind::LargeVehicle) && !layout.roads.is_empty() && rng.chance(0.6);
    if on_road {
        // Drive in a lane: half a road width off the centre line, heading with the traffic.
        let r = &layout.roads[rng.below(layout.roads.len())];
        let along = rng.range(-1.0, 1.0) * (w + h);
        let side = if rng.chance(0.5) { 1.0 } else { -1.0 };
        let across = side * r.half_width * rng.range(0.3, 0.6);
        let (s, c) = r.angle.sin_cos();
        let heading = if side > 0.0 { r.angle } else { r.angle + PI };
        return Placed { kind, cx: r.x0 + along * c - across * s, cy: r.y0 + along * s + across * c, len, wid, angle: heading, style };
    }
    let (mut cx, mut cy) = (rng.range(0.0, w), rng.range(0.0, h));
    if let (Kind::Ship, Some(water)) = (kind, &layout.water) {
        // Water covers a minority of the image: look for open water instead of wasting the try.
        for _ in 0..30 {
            if water.shore_distance(cx, cy) < -len * 0.5 {
                break;
            }
            (cx, cy) = (rng.range(0.0, w), rng.range(0.0, h));
        }
    }
    Placed { kind, cx, cy, len, wid, angle, style }
}

/// Another object of `base`'s class beside it, parallel, as in a parking row or a tank farm.
fn neighbour(base: &Placed, max_occlusion: f32, rng: &mut Rng) -> Placed {
    let mut p = base.clone();
    let k = rng.range(0.95, 1.05);
    p.len *= k;
    p.wid *= k;
    p.style = style_for(base.kind, rng);
    let gap = rng.range(-max_occlusion, 0.6);
    let (s, c) = base.angle.sin_cos();
    let sign = if rng.chance(0.5) { 1.0 } else { -1.0 };
    let (du, dv) = if base.kind == Kind::Tank || (base.kind == Kind::Plane && rng.chance(0.3)) {
        // Tanks and some aircraft line up along either axis.
        if rng.chance(0.5) {
            ((base.len + gap * base.len) * sign, 0.0)
        } else {
            (0.0, (base.wid + gap * base.wid) * sign)
        }
    } else {
        (rng.range(-0.1, 0.1) * base.len, (base.wid + gap * base.wid) * sign)
    };
    p.cx = base.cx + du * c - dv * s;
    p.cy = base.cy + du * s + dv * c;
    p
}

/// Inside the image, ships on water and everything else on land, large things off the roads.
fn fits(p: &Placed, layout: &Layout) -> bool {
    let (w, h) = (layout.width as f64, layout.height as f64);
    let corners = p.corners();
    if corners.iter().any(|q| q[0] < 1.0 || q[1] < 1.0 || q[0] > w - 1.0 || q[1] > h - 1.0) {
        return false;
    }
    let probes: Vec<(f32, f32)> = corners
        .iter()
        .map(|q| (q[0] as f32, q[1] as f32))
        .chain(std::iter::once((p.cx, p.cy)))
        .collect();
    let on_water = |x: f32, y: f32| layout.water.as_ref().is_some_and(|wt| wt.shore_distance(x, y) < 0.0);
    match p.kind {
        Kind::Ship => {
            probes.iter().all(|&(x, y)| on_water(x, y))
                && !layout.roads.iter().any(|r| probes.iter().any(|&(x, y)| r.local(x, y).0.abs() < r.half_width + 2.0))
        }
        _ => {
            if probes.iter().any(|&(x, y)| on_water(x, y) || layout.water.as_ref().is_some_and(|wt| wt.shore_distance(x, y) < 3.0)) {
                return false;
            }
            let vehicle = matches!(p.kind, Kind::SmallVehicle | Kind::LargeVehicle);
            vehicle
                || !layout.roads.iter().any(|r| {
                    probes.iter().any(|&(x, y)| r.local(x, y).0.abs() < r.half_width + 2.0)
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_ids_follow_their_order() {
        for (i, k) in Kind::ALL.iter().enumerate() {
            assert_eq!(k.id(), i);
        }
    }

    #[test]
    fn objects_stay_inside_and_do_not_overlap_by_default() {
        let cfg = SceneConfig::default();
        for seed in 0..10 {
            let l = layout(&cfg, &mut Rng::for_image(seed, 0));
            assert!(l.objects.len() <= cfg.max_objects as usize);
            for (i, a) in l.objects.iter().enumerate() {
                for q in a.corners() {
                    assert!(q[0] >= 0.0 && q[1] >= 0.0 && q[0] <= 512.0 && q[1] <= 512.0);
                }
                for b in &l.objects[..i] {
                    assert_eq!(polygon_area(&clip_convex(&a.corners(), &b.corners())), 0.0);
                }
            }
        }
    }

    #[test]
    fn occlusion_control_allows_overlap() {
        let cfg = SceneConfig { crowding: 1.0, max_occlusion: 0.5, min_objects: 30, max_objects: 30, ..Default::default() };
        let overlapping = (0..10).any(|seed| {
            let l = layout(&cfg, &mut Rng::for_image(seed, 0));
            l.objects.iter().enumerate().any(|(i, a)| {
                l.objects[..i].iter().any(|b| polygon_area(&clip_convex(&a.corners(), &b.corners())) > 0.0)
            })
        });
        assert!(overlapping);
    }

    #[test]
    fn config_validation_names_the_field() {
        let bad = SceneConfig { crowding: 2.0, ..Default::default() };
        assert!(bad.validate().unwrap_err().contains("crowding"));
        assert!(serde_json::from_str::<SceneConfig>(r#"{"widht": 3}"#).is_err());
        let c: SceneConfig = serde_json::from_str(r#"{"width": 256, "max_occlusion": 0.2}"#).unwrap();
        assert_eq!((c.width, c.height, c.max_occlusion), (256, 512, 0.2));
    }
}
