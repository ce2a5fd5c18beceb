//! Learning-rate schedules as HF transformers computes them (`get_*_schedule_with_warmup`): the
//! rate of update `k` (0-based) is `lr · λ(k)`, so the first update of a warm-up uses rate 0.

use std::f64::consts::PI;

/// The schedule after the linear warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    Cosine,
    Linear,
    Constant,
}

impl std::str::FromStr for Schedule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cosine" => Ok(Self::Cosine),
            "linear" => Ok(Self::Linear),
            "constant" | "constant_with_warmup" => Ok(Self::Constant),
            _ => Err(format!("unknown lr schedule `{s}` (cosine, linear, constant)")),
        }
    }
}

/// λ(k) for update `k` of `total` with `warmup` warm-up updates.
pub fn factor(schedule: Schedule, k: u64, warmup: u64, total: u64) -> f64 {
    if k < warmup {
        return k as f64 / warmup.max(1) as f64;
    }
    let progress = (k - warmup) as f64 / (total.saturating_sub(warmup)).max(1) as f64;
    match schedule {
        Schedule::Cosine => (0.5 * (1.0 + (PI * progress).cos())).max(0.0),
        Schedule::Linear => ((total as f64 - k as f64) / (total.saturating_sub(warmup)).max(1) as f64).max(0.0),
        Schedule::Constant => 1.0,
    }
}

/// Warm-up updates for a ratio of the total (HF: `ceil(ratio · total)`).
pub fn warmup_steps(ratio: f64, total: u64) -> u64 {
    (ratio * total as f64).ceil() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_with_warmup_matches_hf_values() {
        // HF get_cosine_schedule_with_warmup(warmup=3, total=100): λ(0)=0, λ(1)=1/3, λ(3)=1,
        // λ(k) = 0.5(1+cos(π(k−3)/97)) after, e.g. λ(99) = 0.5(1+cos(π·96/97)).
        assert_eq!(factor(Schedule::Cosine, 0, 3, 100), 0.0);
        assert!((factor(Schedule::Cosine, 1, 3, 100) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(factor(Schedule::Cosine, 3, 3, 100), 1.0);
        let last = factor(Schedule::Cosine, 99, 3, 100);
        assert!((last - 0.5 * (1.0 + (PI * 96.0 / 97.0).cos())).abs() < 1e-12);
        assert_eq!(warmup_steps(0.03, 100), 3);
        assert_eq!(warmup_steps(0.03, 101), 4);
    }

    #[test]
    fn linear_decays_to_zero() {
        assert_eq!(factor(Schedule::Linear, 10, 0, 10), 0.0);
        assert_eq!(factor(Schedule::Linear, 5, 0, 10), 0.5);
        assert_eq!("cosine".parse::<Schedule>().unwrap(), Schedule::Cosine);
        assert!("cos".parse::<Schedule>().is_err());
    }
}
