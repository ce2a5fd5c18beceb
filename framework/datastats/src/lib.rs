//! lmmrotate-datastats: what `lmmrotate data stats` reports about a dataset. [`stats`] computes
//! the numbers from samples, [`table`] prints them, [`plot`] draws the PNG histogram panel with
//! the bitmap [`font`].

pub mod font;
pub mod plot;
pub mod stats;
pub mod table;

pub use plot::StatsError;
pub use stats::{compute, ClassStats, DataStats, Distribution, Histogram, StatsOptions};
