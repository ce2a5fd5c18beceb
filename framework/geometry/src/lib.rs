//! lmmrotate-geometry: stateless geometry shared by the host and plugins (no plugin ABI types).

pub mod quantize;
