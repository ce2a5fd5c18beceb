//! FAIR1M's 34 fine-grained classes as upstream's `FAIRDataset` lists them (the class id is the
//! index), and the `other-*` classes it leaves out.

pub const CLASSES: [&str; 34] = [
    "Boeing737",
    "Boeing747",
    "Boeing777",
    "Boeing787",
    "C919",
    "A220",
    "A321",
    "A330",
    "A350",
    "ARJ21",
    "Passenger Ship",
    "Motorboat",
    "Fishing Boat",
    "Tugboat",
    "Engineering Ship",
    "Liquid Cargo Ship",
    "Dry Cargo Ship",
    "Warship",
    "Small Car",
    "Bus",
    "Cargo Truck",
    "Dump Truck",
    "Van",
    "Trailer",
    "Tractor",
    "Excavator",
    "Truck Tractor",
    "Basketball Court",
    "Tennis Court",
    "Football Field",
    "Baseball Field",
    "Intersection",
    "Roundabout",
    "Bridge",
];

/// `other-airplane`, `other-ship`, `other-vehicle`: skipped as upstream's `FAIRDOTADataset` does
/// (`cls_name.startswith('other')`); the loader counts them.
pub fn is_other(name: &str) -> bool {
    name.starts_with("other")
}

/// One annotated object as read: kept, or of an `other-*` class and skipped.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Object(lmmrotate_abi::Object),
    Other(String),
}

/// The item for class `name`; an unknown name is an error listing the classes.
pub fn item(name: &str, classes: &lmmrotate_dataset_reader::ClassIndex, object: impl FnOnce(u32) -> lmmrotate_abi::Object) -> Result<Item, String> {
    if is_other(name) {
        return Ok(Item::Other(name.to_string()));
    }
    match classes.get(name) {
        Some(id) => Ok(Item::Object(object(id))),
        None => Err(format!("unknown class {name:?} (classes: {})", classes.describe())),
    }
}
