//! Rank, world size and rendezvous address from the environment of the launcher.
//!
//! `lmmrotate launch` and torchrun set `RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR` and
//! `MASTER_PORT`; SLURM's `srun` sets `SLURM_PROCID`, `SLURM_NTASKS`, `SLURM_LOCALID` and the
//! node list (rank 0 runs on its first node). torchrun's names win when both are present.

use crate::error::{DistError, Result};
use std::{str::FromStr, time::Duration};

/// Where this process sits in a data-parallel run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistEnv {
    pub rank: u32,
    pub world_size: u32,
    /// Rank within the node: the CUDA device this process uses.
    pub local_rank: u32,
    pub master_addr: String,
    pub master_port: u16,
    /// How long to wait for peers: at the rendezvous and in each host-side collective
    /// (`LMMROTATE_DIST_TIMEOUT`, seconds; default 1800, longer than any checkpoint save).
    pub timeout: Duration,
}

pub const DEFAULT_PORT: u16 = 29500;

impl DistEnv {
    /// The run this process belongs to, or `None` when no launcher variables are set.
    pub fn from_env() -> Result<Option<Self>> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        let timeout = Duration::from_secs(parse_or(&get, "LMMROTATE_DIST_TIMEOUT", 1800u64)?);
        let port = |get: &dyn Fn(&str) -> Option<String>| parse_or(&get, "MASTER_PORT", DEFAULT_PORT);
        let env = if get("WORLD_SIZE").is_some() || get("RANK").is_some() {
            let rank = required(&get, "RANK")?;
            Self {
                rank,
                world_size: required(&get, "WORLD_SIZE")?,
                local_rank: parse_or(&get, "LOCAL_RANK", rank)?,
                master_addr: get("MASTER_ADDR").unwrap_or_else(|| "127.0.0.1".into()),
                master_port: port(&get)?,
                timeout,
            }
        } else if get("SLURM_PROCID").is_some() && get("SLURM_NTASKS").is_some() {
            let master_addr = match get("MASTER_ADDR") {
                Some(a) => a,
                None => {
                    let (var, list) = ["SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_NODELIST"]
                        .iter()
                        .find_map(|v| get(v).map(|l| (*v, l)))
                        .ok_or_else(|| DistError::Env {
                            var: "SLURM_JOB_NODELIST".into(),
                            value: String::new(),
                            reason: "not set, and MASTER_ADDR is not set either: cannot tell where rank 0 runs".into(),
                        })?;
                    first_node(&list).ok_or_else(|| DistError::Env {
                        var: var.into(),
                        value: list.clone(),
                        reason: "not a node list".into(),
                    })?
                }
            };
            Self {
                rank: required(&get, "SLURM_PROCID")?,
                world_size: required(&get, "SLURM_NTASKS")?,
                local_rank: parse_or(&get, "SLURM_LOCALID", 0)?,
                master_addr,
                master_port: port(&get)?,
                timeout,
            }
        } else {
            return Ok(None);
        };
        if env.world_size == 0 || env.rank >= env.world_size {
            return Err(DistError::Env {
                var: "RANK".into(),
                value: env.rank.to_string(),
                reason: format!("must be below the world size {}", env.world_size),
            });
        }
        Ok(Some(env))
    }

    pub fn addr(&self) -> String {
        format!("{}:{}", self.master_addr, self.master_port)
    }

    /// The `CUDA_VISIBLE_DEVICES` value that gives this rank its own GPU as `cuda:0`: entry
    /// `local_rank` of the visible list (all devices when unset), or the list unchanged when the
    /// launcher already gave each process one device (SLURM's `--gpus-per-task=1`).
    pub fn visible_device(&self, current: Option<&str>) -> Option<String> {
        match current.map(str::trim) {
            None | Some("") => Some(self.local_rank.to_string()),
            Some(list) => {
                let ids: Vec<&str> = list.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
                if ids.len() <= 1 {
                    None
                } else {
                    ids.get(self.local_rank as usize).map(|s| s.to_string())
                }
            }
        }
    }
}

fn required<T: FromStr>(get: &dyn Fn(&str) -> Option<String>, var: &str) -> Result<T> {
    let value = get(var).ok_or_else(|| DistError::Env {
        var: var.into(),
        value: String::new(),
        reason: "not set (the launcher sets RANK and WORLD_SIZE together)".into(),
    })?;
    value.trim().parse().map_err(|_| DistError::Env { var: var.into(), value, reason: "not a number".into() })
}

fn parse_or<T: FromStr>(get: &dyn Fn(&str) -> Option<String>, var: &str, default: T) -> Result<T> {
    match get(var) {
        None => Ok(default),
        Some(_) => required(get, var),
    }
}

/// The first host of a SLURM node list: `gpu-[07-09,12],login1` → `gpu-07`.
pub fn first_node(list: &str) -> Option<String> {
    let list = list.trim();
    let end = list.find([',', '[']).unwrap_or(list.len());
    let prefix = &list[..end];
    if list[end..].starts_with('[') {
        let inner = &list[end + 1..];
        let stop = inner.find([',', '-', ']'])?;
        let first = &inner[..stop];
        (!first.is_empty()).then(|| format!("{prefix}{first}"))
    } else {
        (!prefix.is_empty()).then(|| prefix.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Result<Option<DistEnv>> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        DistEnv::from_vars(|k| m.get(k).cloned())
    }

    #[test]
    fn no_launcher_means_a_single_process() {
        assert_eq!(env(&[("PATH", "/bin")]).unwrap(), None);
    }

    #[test]
    fn torchrun_variables() {
        let e = env(&[("RANK", "3"), ("WORLD_SIZE", "8"), ("LOCAL_RANK", "1"), ("MASTER_ADDR", "node1"), ("MASTER_PORT", "1234")])
            .unwrap()
            .unwrap();
        assert_eq!((e.rank, e.world_size, e.local_rank, e.addr()), (3, 8, 1, "node1:1234".into()));
    }

    #[test]
    fn slurm_variables_take_rank_zero_from_the_node_list() {
        let e = env(&[("SLURM_PROCID", "9"), ("SLURM_NTASKS", "16"), ("SLURM_LOCALID", "1"), ("SLURM_JOB_NODELIST", "gpu-[07-08]")])
            .unwrap()
            .unwrap();
        assert_eq!((e.rank, e.world_size, e.local_rank, e.addr()), (9, 16, 1, format!("gpu-07:{DEFAULT_PORT}")));
        // torchrun's names win over SLURM's.
        let e = env(&[("SLURM_PROCID", "9"), ("SLURM_NTASKS", "16"), ("RANK", "0"), ("WORLD_SIZE", "2")]).unwrap().unwrap();
        assert_eq!((e.rank, e.world_size), (0, 2));
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = env(&[("RANK", "x"), ("WORLD_SIZE", "2")]).unwrap_err().to_string();
        assert!(e.contains("RANK=\"x\"") && e.contains("not a number"), "{e}");
        let e = env(&[("RANK", "2"), ("WORLD_SIZE", "2")]).unwrap_err().to_string();
        assert!(e.contains("below the world size 2"), "{e}");
        let e = env(&[("WORLD_SIZE", "2")]).unwrap_err().to_string();
        assert!(e.contains("RANK") && e.contains("not set"), "{e}");
        let e = env(&[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "2")]).unwrap_err().to_string();
        assert!(e.contains("MASTER_ADDR"), "{e}");
    }

    #[test]
    fn each_local_rank_sees_its_own_gpu() {
        let e = env(&[("RANK", "5"), ("WORLD_SIZE", "8"), ("LOCAL_RANK", "1")]).unwrap().unwrap();
        assert_eq!(e.visible_device(None).as_deref(), Some("1"));
        assert_eq!(e.visible_device(Some("4,5,6")).as_deref(), Some("5"));
        assert_eq!(e.visible_device(Some("3")), None);
        assert_eq!(e.visible_device(Some("4")), None);
    }

    #[test]
    fn first_node_of_slurm_lists() {
        assert_eq!(first_node("gpu-[07-09,12],login1").as_deref(), Some("gpu-07"));
        assert_eq!(first_node("a[1,3]").as_deref(), Some("a1"));
        assert_eq!(first_node("node5,node6").as_deref(), Some("node5"));
        assert_eq!(first_node("solo").as_deref(), Some("solo"));
        assert_eq!(first_node("[").as_deref(), None);
    }
}
