//! Class lists of the DOTA releases and of the synthetic scenes; the class id is the index.
//! The DOTA lists are `METAINFO['classes']` of `DOTADataset`, `DOTAv15Dataset` and
//! `DOTAv2Dataset` in open-mmlab/mmrotate `mmrotate/datasets/dota.py` at tag v1.0.0rc1 (the
//! version upstream LMMRotate pins; the same on branch 1.x), spelling and order as there.

/// DOTA-v1.0: `DOTADataset` (dota.py L28-33).
pub const DOTA_V1_0: [&str; 15] = [
    "plane",
    "baseball-diamond",
    "bridge",
    "ground-track-field",
    "small-vehicle",
    "large-vehicle",
    "ship",
    "tennis-court",
    "basketball-court",
    "storage-tank",
    "soccer-ball-field",
    "roundabout",
    "harbor",
    "swimming-pool",
    "helicopter",
];

/// DOTA-v1.5: `DOTAv15Dataset` (dota.py L155-160), v1.0 plus `container-crane`.
pub const DOTA_V1_5: [&str; 16] = [
    "plane",
    "baseball-diamond",
    "bridge",
    "ground-track-field",
    "small-vehicle",
    "large-vehicle",
    "ship",
    "tennis-court",
    "basketball-court",
    "storage-tank",
    "soccer-ball-field",
    "roundabout",
    "harbor",
    "swimming-pool",
    "helicopter",
    "container-crane",
];

/// DOTA-v2.0: `DOTAv2Dataset` (dota.py L179-185), v1.5 plus `airport` and `helipad`.
pub const DOTA_V2_0: [&str; 18] = [
    "plane",
    "baseball-diamond",
    "bridge",
    "ground-track-field",
    "small-vehicle",
    "large-vehicle",
    "ship",
    "tennis-court",
    "basketball-court",
    "storage-tank",
    "soccer-ball-field",
    "roundabout",
    "harbor",
    "swimming-pool",
    "helicopter",
    "container-crane",
    "airport",
    "helipad",
];

/// The classes `lmmrotate-synth` draws, in its order (a test checks they agree).
pub const SYNTHETIC: [&str; 6] = ["plane", "ship", "storage-tank", "large-vehicle", "small-vehicle", "tennis-court"];
