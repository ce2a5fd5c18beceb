//! Sample order of one epoch when training on several datasets (upstream `--dataset_mode`):
//! indices into the concatenation of the datasets, in the order given.

use crate::pyrandom::PyRandom;
use std::str::FromStr;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DatasetMode {
    /// Exactly one dataset.
    Single,
    /// All datasets one after the other, the same every epoch.
    Concat,
    /// Upstream's "balanced concat": about `N / K` samples of each of the `K` datasets per epoch,
    /// small ones over-sampled, large ones sub-sampled, re-drawn every epoch from its number.
    Balanced,
}

impl FromStr for DatasetMode {
    type Err = ModeError;
    /// Accepts upstream's exact `balanced concat` as well as the README's `balanced`.
    fn from_str(s: &str) -> Result<Self, ModeError> {
        match s {
            "single" => Ok(DatasetMode::Single),
            "concat" => Ok(DatasetMode::Concat),
            "balanced" | "balanced concat" | "balanced_concat" => Ok(DatasetMode::Balanced),
            _ => Err(ModeError::Unknown(s.to_string())),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModeError {
    #[error("unknown dataset mode {0:?} (available: single, concat, balanced / \"balanced concat\")")]
    Unknown(String),
    #[error("dataset mode single takes exactly one dataset, got {0}")]
    NotSingle(usize),
    #[error("no datasets given")]
    NoDatasets,
    #[error("dataset {0} is empty; balanced mode cannot over-sample it")]
    EmptyDataset(usize),
}

/// The epoch's sample order as indices into the concatenated datasets of `sizes`.
///
/// `Balanced`, as upstream (`lmmrotate/dataset.py`): `N = Σ N_i`, `M = ceil(N / K)`; each dataset
/// repeated `ceil(M / N_i)` times; per epoch `rnd = random.Random(epoch)`, concatenate
/// `rnd.sample(repeated_i, M)` over the datasets in order, `rnd.shuffle`, keep the first `N`.
pub fn epoch_indices(mode: DatasetMode, sizes: &[usize], epoch: u64) -> Result<Vec<usize>, ModeError> {
    if sizes.is_empty() {
        return Err(ModeError::NoDatasets);
    }
    let total: usize = sizes.iter().sum();
    match mode {
        DatasetMode::Single if sizes.len() != 1 => Err(ModeError::NotSingle(sizes.len())),
        DatasetMode::Single | DatasetMode::Concat => Ok((0..total).collect()),
        DatasetMode::Balanced => {
            if let Some(i) = sizes.iter().position(|&n| n == 0) {
                return Err(ModeError::EmptyDataset(i));
            }
            let m = total.div_ceil(sizes.len());
            let mut rnd = PyRandom::new(epoch);
            let mut list = Vec::with_capacity(m * sizes.len());
            let mut offset = 0;
            for &n in sizes {
                let repeated = n * m.div_ceil(n);
                // Position p of the repeated list is item p mod n of this dataset.
                list.extend(rnd.sample_positions(repeated, m).into_iter().map(|p| offset + p % n));
                offset += n;
            }
            rnd.shuffle(&mut list);
            list.truncate(total);
            Ok(list)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_check_their_inputs() {
        assert_eq!("balanced concat".parse::<DatasetMode>(), Ok(DatasetMode::Balanced));
        assert_eq!("balanced".parse::<DatasetMode>(), Ok(DatasetMode::Balanced));
        assert!("mixed".parse::<DatasetMode>().unwrap_err().to_string().contains("available"));
        assert_eq!(epoch_indices(DatasetMode::Single, &[3], 0).unwrap(), vec![0, 1, 2]);
        assert_eq!(epoch_indices(DatasetMode::Single, &[3, 1], 0), Err(ModeError::NotSingle(2)));
        assert_eq!(epoch_indices(DatasetMode::Concat, &[2, 1], 5).unwrap(), vec![0, 1, 2]);
        assert_eq!(epoch_indices(DatasetMode::Balanced, &[2, 0], 0), Err(ModeError::EmptyDataset(1)));
    }

    #[test]
    fn balanced_gives_each_dataset_its_share() {
        let v = epoch_indices(DatasetMode::Balanced, &[90, 10], 3).unwrap();
        assert_eq!(v.len(), 100);
        let small = v.iter().filter(|&&i| i >= 90).count();
        // M = 50 of each before the cut to N = 100: exactly 50 each.
        assert_eq!(small, 50);
        assert_ne!(v, epoch_indices(DatasetMode::Balanced, &[90, 10], 4).unwrap());
    }
}
