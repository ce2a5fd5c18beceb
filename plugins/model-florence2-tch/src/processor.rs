//! Turns what crosses the ABI into model inputs: RGB images (already resized by the host) into
//! normalised pixel tensors on the device, and texts into padded id tensors.

use lmmrotate_abi::{ErrorKind, PluginError, RgbImage};
use tch::{Device, Kind, Tensor};

/// ImageNet mean / std, as Florence-2's preprocessor_config.json.
pub const MEAN: [f64; 3] = [0.485, 0.456, 0.406];
pub const STD: [f64; 3] = [0.229, 0.224, 0.225];

/// Images of `size`×`size` → [B, 3, size, size] of `kind` on `device`: x/255, then (x − mean)/std.
pub fn pixels(images: &[RgbImage], size: u32, device: Device, kind: Kind) -> Result<Tensor, PluginError> {
    let mut batch = Vec::with_capacity(images.len());
    for (i, img) in images.iter().enumerate() {
        if img.width != size || img.height != size {
            return Err(PluginError::new(
                ErrorKind::INVALID_CONFIG,
                format!("image {i} is {}x{}, the model takes {size}x{size} (the host resizes)", img.width, img.height),
            ));
        }
        if img.data.len() != (size * size * 3) as usize {
            return Err(PluginError::new(ErrorKind::INVALID_CONFIG, format!("image {i}: {} bytes for {size}x{size} RGB", img.data.len())));
        }
        batch.push(Tensor::from_slice(img.data.as_slice()).reshape([size as i64, size as i64, 3]));
    }
    if batch.is_empty() {
        return Err(PluginError::new(ErrorKind::INVALID_CONFIG, "empty batch"));
    }
    let x = Tensor::stack(&batch, 0).to_device(device).permute([0, 3, 1, 2]).to_kind(Kind::Float) / 255.0;
    let mean = Tensor::from_slice(&MEAN).to_kind(Kind::Float).to_device(device).reshape([1, 3, 1, 1]);
    let std = Tensor::from_slice(&STD).to_kind(Kind::Float).to_device(device).reshape([1, 3, 1, 1]);
    Ok(((x - mean) / std).to_kind(kind))
}

/// Right-padded [B, L] ids and the per-row lengths.
pub fn pad(rows: &[Vec<i64>], pad_id: i64, device: Device) -> Tensor {
    let len = rows.iter().map(Vec::len).max().unwrap_or(0);
    let flat: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied().chain(std::iter::repeat_n(pad_id, len - r.len()))).collect();
    Tensor::from_slice(&flat).reshape([rows.len() as i64, len as i64]).to_device(device)
}

/// LMMRotate's decoder targets (upstream.md §4.5) from the tokenised `<s>` + response (no
/// special tokens added): ids `[0, 0, r…, 2]` cut to `max_len` keeping `</s>`; returns
/// (decoder input `[2, 0, r…]`, labels `[0, r…, 2]` with padding as −100, whether cut).
pub fn targets(prefixed: &[i64], max_len: usize, bos: i64, eos: i64, start: i64) -> (Vec<i64>, Vec<i64>, bool) {
    let mut ids = Vec::with_capacity(prefixed.len() + 2);
    ids.push(bos);
    ids.extend_from_slice(prefixed);
    let cut = ids.len() + 1 > max_len;
    ids.truncate(max_len.saturating_sub(1).max(1));
    ids.push(eos);
    let labels: Vec<i64> = ids[1..].to_vec();
    let mut input = vec![start];
    input.extend_from_slice(&labels[..labels.len() - 1]);
    (input, labels, cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_follow_the_upstream_layout() {
        // tokenizer("<s>" + "ab") without specials = [0, a, b]; with specials [0, 0, a, b, 2].
        let (input, labels, cut) = targets(&[0, 10, 11], 2048, 0, 2, 2);
        assert_eq!(labels, vec![0, 10, 11, 2]);
        assert_eq!(input, vec![2, 0, 10, 11]);
        assert!(!cut);
        // Truncated at 4 tokens in all, keeping </s>: [0, 0, 10, 2].
        let (input, labels, cut) = targets(&[0, 10, 11, 12], 4, 0, 2, 2);
        assert_eq!(labels, vec![0, 10, 2]);
        assert_eq!(input, vec![2, 0, 10]);
        assert!(cut);
    }

    #[test]
    fn pixels_are_normalised_channel_first() {
        let img = RgbImage { width: 1, height: 1, data: vec![255u8, 0, 128].into() };
        let t = pixels(&[img], 1, Device::Cpu, Kind::Float).unwrap();
        assert_eq!(t.size(), vec![1, 3, 1, 1]);
        let v: Vec<f32> = Vec::try_from(t.reshape([-1])).unwrap();
        let want = [(1.0 - 0.485) / 0.229, (0.0 - 0.456) / 0.224, (128.0 / 255.0 - 0.406) / 0.225];
        for (a, b) in v.iter().zip(want) {
            assert!((*a as f64 - b).abs() < 1e-5, "{a} vs {b}");
        }
        let bad = RgbImage { width: 2, height: 1, data: vec![0u8; 6].into() };
        assert!(pixels(&[bad], 1, Device::Cpu, Kind::Float).unwrap_err().to_string().contains("is 2x1"));
    }
}
