//! lmmrotate-geometry: stateless geometry shared by the host and plugins (no plugin ABI types).

pub mod iou;
pub mod nms;
pub mod polygon;
pub mod quantize;
pub mod rbox;

pub use iou::{iou_matrix, rotated_iou, IouMatrix, PreparedBox};
pub use nms::nms_rotated;
pub use polygon::{clip_convex, convex_hull, iof_window, polygon_area, signed_area, Point, Window};
pub use rbox::{min_area_rect, AngleConvention, Quad, RBox};
