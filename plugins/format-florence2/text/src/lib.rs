//! The Florence-2 response text of LMMRotate: encoder (`convert_dota_for_sft.py`), parser
//! (`parse_description_with_polygons_from_text_and_spans`) and eval post-processing
//! (`postprocess_parsed_answer`), reproduced exactly, quirks included, with opt-in fixes.

pub mod config;
pub mod decode;
pub mod drops;
pub mod encode;
pub mod fuzzy;
pub mod parse;
pub mod pychar;

pub use decode::{decode, ClassMap, DecodeOptions, DecodedText, Dequantize, Unmatched};
pub use drops::Drops;
pub use encode::{encode, encode_groups, normalize_polygon, EncodeOptions, Group, Version};
pub use parse::{parse, Instance, ParseOptions, Parsed};

/// The task token of rotated object detection.
pub const TASK: &str = "<ROD>";
/// What the task token expands to (upstream `task_prompts_without_inputs['<ROD>']`).
pub const PROMPT_TEXT: &str = "Locate the objects tightly with quad boxes and category names in the image.";
/// The v3 response of an image without objects.
pub const NONE_RESPONSE: &str = "There are none.";
