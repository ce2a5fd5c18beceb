//! Host-side collectives over TCP, star-shaped through rank 0.
//!
//! Rank 0 listens at `MASTER_PORT`; every other rank connects (retrying until the timeout, since
//! ranks start in any order) and introduces itself. An all-gather is one frame from each rank to
//! rank 0 and the concatenation back. It carries barriers, logged scalars, the NCCL unique id and
//! CPU gradients: small or slow things; CUDA gradients go through NCCL.

use crate::{
    env::DistEnv,
    error::{DistError, Result},
    group::Collective,
};
use std::{
    io::{ErrorKind, Read, Write},
    net::{TcpListener, TcpStream, ToSocketAddrs},
    sync::Mutex,
    time::{Duration, Instant},
};

const MAGIC: &[u8; 4] = b"LMMR";
const PROTOCOL: u32 = 1;

enum Links {
    /// Rank 0: one stream per other rank, in rank order.
    Root(Vec<TcpStream>),
    Leaf(TcpStream),
    Alone,
}

pub struct TcpGroup {
    rank: u32,
    world: u32,
    addr: String,
    links: Mutex<Links>,
}

impl TcpGroup {
    /// Connects all ranks of `env`; returns when every rank has arrived.
    pub fn connect(env: &DistEnv) -> Result<Self> {
        let addr = env.addr();
        let links = if env.world_size == 1 {
            Links::Alone
        } else if env.rank == 0 {
            Links::Root(accept_all(env)?)
        } else {
            Links::Leaf(connect_root(env)?)
        };
        Ok(Self { rank: env.rank, world: env.world_size, addr, links: Mutex::new(links) })
    }
}

fn rdv(env: &DistEnv, reason: impl Into<String>) -> DistError {
    DistError::Rendezvous { addr: env.addr(), reason: reason.into() }
}

fn accept_all(env: &DistEnv) -> Result<Vec<TcpStream>> {
    let listener = TcpListener::bind(("0.0.0.0", env.master_port))
        .map_err(|e| rdv(env, format!("rank 0 cannot listen on port {}: {e} (is MASTER_PORT in use?)", env.master_port)))?;
    listener.set_nonblocking(true).map_err(|e| rdv(env, e.to_string()))?;
    let deadline = Instant::now() + env.timeout;
    let mut peers: Vec<Option<TcpStream>> = (1..env.world_size).map(|_| None).collect();
    while peers.iter().any(Option::is_none) {
        match listener.accept() {
            Ok((mut s, from)) => {
                s.set_nonblocking(false).map_err(|e| rdv(env, e.to_string()))?;
                s.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| rdv(env, e.to_string()))?;
                let mut hello = [0u8; 16];
                if s.read_exact(&mut hello).is_err() || &hello[..4] != MAGIC {
                    tracing::warn!("ignoring a connection from {from} that is not an lmmrotate rank");
                    continue;
                }
                let word = |i: usize| u32::from_le_bytes(hello[i..i + 4].try_into().expect("4 bytes"));
                let (proto, rank, world) = (word(4), word(8), word(12));
                let refuse = if proto != PROTOCOL {
                    Some(format!("rank {rank} at {from} speaks protocol {proto}, rank 0 speaks {PROTOCOL} (mixed lmmrotate versions?)"))
                } else if world != env.world_size {
                    Some(format!("rank {rank} at {from} was started with WORLD_SIZE={world}, rank 0 with {}", env.world_size))
                } else if rank == 0 || rank >= world {
                    Some(format!("a peer at {from} claims rank {rank}"))
                } else if peers[rank as usize - 1].is_some() {
                    Some(format!("rank {rank} arrived twice (second from {from})"))
                } else {
                    None
                };
                if let Some(reason) = refuse {
                    let _ = write_frame(&mut s, reason.as_bytes());
                    return Err(rdv(env, reason));
                }
                write_frame(&mut s, b"").map_err(|e| rdv(env, e.to_string()))?;
                configure(&s, env)?;
                peers[rank as usize - 1] = Some(s);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    let missing: Vec<String> =
                        peers.iter().enumerate().filter(|(_, p)| p.is_none()).map(|(i, _)| (i + 1).to_string()).collect();
                    return Err(rdv(
                        env,
                        format!("rank(s) {} did not arrive within {} s (LMMROTATE_DIST_TIMEOUT)", missing.join(", "), env.timeout.as_secs()),
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(rdv(env, e.to_string())),
        }
    }
    Ok(peers.into_iter().map(|p| p.expect("all arrived")).collect())
}

fn connect_root(env: &DistEnv) -> Result<TcpStream> {
    let deadline = Instant::now() + env.timeout;
    let mut last = String::from("no address");
    loop {
        let addrs: Vec<_> = (env.master_addr.as_str(), env.master_port)
            .to_socket_addrs()
            .map_err(|e| rdv(env, format!("cannot resolve MASTER_ADDR: {e}")))?
            .collect();
        for a in &addrs {
            match TcpStream::connect_timeout(a, Duration::from_secs(5)) {
                Ok(mut s) => {
                    let mut hello = Vec::with_capacity(16);
                    hello.extend_from_slice(MAGIC);
                    for w in [PROTOCOL, env.rank, env.world_size] {
                        hello.extend_from_slice(&w.to_le_bytes());
                    }
                    s.write_all(&hello).map_err(|e| rdv(env, e.to_string()))?;
                    s.set_read_timeout(Some(env.timeout)).map_err(|e| rdv(env, e.to_string()))?;
                    let answer = read_frame(&mut s).map_err(|e| rdv(env, format!("rank 0 did not answer: {e}")))?;
                    if !answer.is_empty() {
                        return Err(rdv(env, format!("rank 0 refused rank {}: {}", env.rank, String::from_utf8_lossy(&answer))));
                    }
                    configure(&s, env)?;
                    return Ok(s);
                }
                Err(e) => last = e.to_string(),
            }
        }
        if Instant::now() > deadline {
            return Err(rdv(env, format!("rank {} could not reach rank 0 within {} s: {last}", env.rank, env.timeout.as_secs())));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn configure(s: &TcpStream, env: &DistEnv) -> Result<()> {
    s.set_nodelay(true).and_then(|_| s.set_read_timeout(Some(env.timeout))).map_err(|e| rdv(env, e.to_string()))
}

fn write_frame(s: &mut TcpStream, data: &[u8]) -> std::io::Result<()> {
    s.write_all(&(data.len() as u64).to_le_bytes())?;
    s.write_all(data)?;
    s.flush()
}

fn read_frame(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 8];
    s.read_exact(&mut len)?;
    let mut data = vec![0u8; u64::from_le_bytes(len) as usize];
    s.read_exact(&mut data)?;
    Ok(data)
}

fn peer_err(rank: u32, e: std::io::Error) -> DistError {
    let reason = match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => "did not answer within LMMROTATE_DIST_TIMEOUT".to_string(),
        ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::BrokenPipe => {
            "closed the connection (did it fail? see its output)".to_string()
        }
        _ => e.to_string(),
    };
    DistError::Peer { rank, reason }
}

impl Collective for TcpGroup {
    fn rank(&self) -> u32 {
        self.rank
    }
    fn world_size(&self) -> u32 {
        self.world
    }
    fn all_gather(&self, data: &[u8]) -> Result<Vec<Vec<u8>>> {
        let mut links = self.links.lock().map_err(|_| DistError::Invalid(format!("{}: group poisoned", self.addr)))?;
        match &mut *links {
            Links::Alone => Ok(vec![data.to_vec()]),
            Links::Leaf(s) => {
                write_frame(s, data).map_err(|e| peer_err(0, e))?;
                (0..self.world).map(|_| read_frame(s).map_err(|e| peer_err(0, e))).collect()
            }
            Links::Root(peers) => {
                let mut all = vec![data.to_vec()];
                for (i, s) in peers.iter_mut().enumerate() {
                    all.push(read_frame(s).map_err(|e| peer_err(i as u32 + 1, e))?);
                }
                for (i, s) in peers.iter_mut().enumerate() {
                    for part in &all {
                        write_frame(s, part).map_err(|e| peer_err(i as u32 + 1, e))?;
                    }
                }
                Ok(all)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(rank: u32, world: u32, port: u16, timeout: u64) -> DistEnv {
        DistEnv {
            rank,
            world_size: world,
            local_rank: rank,
            master_addr: "127.0.0.1".into(),
            master_port: port,
            timeout: Duration::from_secs(timeout),
        }
    }

    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }

    #[test]
    fn three_ranks_gather_in_rank_order_whoever_starts_first() {
        let port = free_port();
        let handles: Vec<_> = [2u32, 1, 0]
            .into_iter()
            .map(|r| {
                std::thread::spawn(move || {
                    let g = TcpGroup::connect(&env(r, 3, port, 20)).unwrap();
                    let a = g.all_gather(&[r as u8; 3]).unwrap();
                    let b = g.all_gather(format!("rank{r}").as_bytes()).unwrap();
                    (a, b)
                })
            })
            .collect();
        for h in handles {
            let (a, b) = h.join().unwrap();
            assert_eq!(a, vec![vec![0u8; 3], vec![1; 3], vec![2; 3]]);
            assert_eq!(b, vec![b"rank0".to_vec(), b"rank1".to_vec(), b"rank2".to_vec()]);
        }
    }

    #[test]
    fn a_rank_that_never_arrives_is_named() {
        let port = free_port();
        let e = TcpGroup::connect(&env(0, 3, port, 1)).err().unwrap().to_string();
        assert!(e.contains("rank(s) 1, 2 did not arrive within 1 s"), "{e}");
    }

    #[test]
    fn a_rank_that_dies_is_named_by_the_others() {
        let port = free_port();
        let leaf = std::thread::spawn(move || {
            let g = TcpGroup::connect(&env(1, 2, port, 20)).unwrap();
            drop(g);
        });
        let root = TcpGroup::connect(&env(0, 2, port, 20)).unwrap();
        leaf.join().unwrap();
        let e = root.all_gather(b"x").unwrap_err().to_string();
        assert!(e.contains("rank 1: closed the connection"), "{e}");
    }

    #[test]
    fn mismatched_world_sizes_are_refused_with_both_numbers() {
        let port = free_port();
        let leaf = std::thread::spawn(move || TcpGroup::connect(&env(1, 3, port, 20)).err().unwrap().to_string());
        let e = TcpGroup::connect(&env(0, 2, port, 20)).err().unwrap().to_string();
        assert!(e.contains("WORLD_SIZE=3, rank 0 with 2"), "{e}");
        assert!(leaf.join().unwrap().contains("refused rank 1"));
    }
}
