//! Typed errors of the metrics crate; each names the file and line, image or class that failed.

use std::path::PathBuf;
use thiserror::Error;

/// What is wrong with one line of an input file.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum LineProblem {
    #[error("expected {expected} whitespace-separated fields, found {found}")]
    FieldCount { expected: &'static str, found: usize },
    #[error("field {field} is not a number: {text:?}")]
    NotANumber { field: usize, text: String },
    #[error("field {field} is not finite: {text:?}")]
    NotFinite { field: usize, text: String },
    #[error("unknown class {name:?}")]
    UnknownClass { name: String },
    #[error("difficulty is not a non-negative integer: {text:?}")]
    BadDifficulty { text: String },
    #[error("invalid JSON: {message}")]
    Json { message: String },
    #[error("quad has {found} numbers, expected 8")]
    QuadLength { found: usize },
    #[error("detection {index}: {what} is not finite")]
    NonFiniteDetection { index: usize, what: &'static str },
    #[error("image {id:?} appears a second time")]
    DuplicateImage { id: String },
}

/// Reading annotation or prediction files.
#[derive(Debug, Error)]
pub enum ReadError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}:{line}: {problem}", path.display())]
    Line { path: PathBuf, line: usize, problem: LineProblem },
    #[error("{}: file name names unknown class {class:?}", path.display())]
    UnknownClassFile { path: PathBuf, class: String },
    #[error("{}: no Task1_<class>.txt files in this folder", path.display())]
    NoTask1Files { path: PathBuf },
}

/// Building the evaluation input or evaluating it.
#[derive(Debug, Error, PartialEq)]
pub enum EvalError {
    #[error("the class list is empty")]
    NoClasses,
    #[error("class {name:?} is listed twice (names are compared lower-cased with '-' as space)")]
    DuplicateClass { name: String },
    #[error("image {id:?}: class id {class} is out of range for {classes} classes")]
    ClassOutOfRange { id: String, class: usize, classes: usize },
    #[error("ground truth lists image {id:?} twice")]
    DuplicateGtImage { id: String },
    #[error("predictions list image {id:?} twice")]
    DuplicatePredImage { id: String },
    #[error("predictions for image {id:?}, which has no ground-truth file")]
    UnknownImage { id: String },
    #[error("image {id:?}: some detections have a score and some do not; give all or none")]
    MixedScores { id: String },
    #[error("image {id:?}: score {score} is not finite")]
    BadScore { id: String, score: f32 },
    #[error("option {name} = {value} is out of range ({expected})")]
    BadOption { name: &'static str, value: f64, expected: &'static str },
}

/// Writing a DOTA Task1 submission.
#[derive(Debug, Error)]
pub enum Task1Error {
    #[error("image id {id:?} has no patch offset `__<x>___<y>` (expected e.g. P0000__1024__0___824)")]
    BadPatchName { id: String },
    #[error("image {id:?}: class id {class} is out of range for {classes} classes")]
    ClassOutOfRange { id: String, class: usize, classes: usize },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}
