//! Class names and their lookup after upstream's normalisation (lower case, '-' as space).

use crate::error::EvalError;
use std::collections::HashMap;

/// Upstream's key for class names: `name.replace("-", " ").lower()` (plus trimming, so that a
/// stray space in a file does not make a new class).
pub fn normalize_class(name: &str) -> String {
    name.trim().to_lowercase().replace('-', " ")
}

/// The class list of a dataset, in its order (class ids are positions), with normalised lookup.
#[derive(Clone, Debug)]
pub struct ClassIndex {
    names: Vec<String>,
    by_key: HashMap<String, usize>,
}

impl ClassIndex {
    /// Fails on an empty list or two names that normalise to the same key.
    pub fn new<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Result<Self, EvalError> {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        if names.is_empty() {
            return Err(EvalError::NoClasses);
        }
        let mut by_key = HashMap::new();
        for (i, n) in names.iter().enumerate() {
            if by_key.insert(normalize_class(n), i).is_some() {
                return Err(EvalError::DuplicateClass { name: n.clone() });
            }
        }
        Ok(ClassIndex { names, by_key })
    }

    /// The names as given (used for `Task1_<name>.txt` and report rows).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The id of `name` after normalisation, if it is one of the classes.
    pub fn get(&self, name: &str) -> Option<usize> {
        self.by_key.get(&normalize_class(name)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_normalised() {
        let c = ClassIndex::new(["plane", "small-vehicle", "Storage-Tank"]).unwrap();
        assert_eq!(c.get("small vehicle"), Some(1));
        assert_eq!(c.get("Small-Vehicle"), Some(1));
        assert_eq!(c.get("storage tank"), Some(2));
        assert_eq!(c.get("ship"), None);
        assert!(matches!(ClassIndex::new(["a-b", "A b"]), Err(EvalError::DuplicateClass { .. })));
        assert!(matches!(ClassIndex::new(Vec::<String>::new()), Err(EvalError::NoClasses)));
    }
}
