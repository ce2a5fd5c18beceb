//! Exit codes: 0 everything done, 1 done but something was skipped or failed in part, 2 error.

pub const OK: i32 = 0;
pub const PARTIAL: i32 = 1;
pub const ERROR: i32 = 2;
/// Stopped by a second Ctrl-C (128 + SIGINT, as shells report it).
pub const INTERRUPTED: i32 = 130;

/// How a command that did not fail outright ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Finished, but some items were skipped or failed (reported on stderr).
    Partial,
}

impl Outcome {
    pub fn code(self) -> i32 {
        match self {
            Outcome::Done => OK,
            Outcome::Partial => PARTIAL,
        }
    }
}
