//! Class lists of the DOTA releases (as mmrotate's `DOTADataset`, `DOTAv15Dataset`,
//! `DOTAv2Dataset`) and of the synthetic scenes; the class id is the index.

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

/// v1.0 plus `container-crane`.
pub fn dota_v1_5() -> Vec<&'static str> {
    let mut v = DOTA_V1_0.to_vec();
    v.push("container-crane");
    v
}

/// v1.5 plus `airport` and `helipad`.
pub fn dota_v2_0() -> Vec<&'static str> {
    let mut v = dota_v1_5();
    v.extend(["airport", "helipad"]);
    v
}

/// The classes `lmmrotate-synth` draws, in its order (a test checks they agree).
pub const SYNTHETIC: [&str; 6] = ["plane", "ship", "storage-tank", "large-vehicle", "small-vehicle", "tennis-court"];
