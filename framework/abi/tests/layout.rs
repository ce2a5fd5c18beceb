//! Golden snapshot of the type layouts that cross the plugin boundary.
//!
//! The snapshot walks every type reachable from the root module (fields, function pointers,
//! trait-object vtables) and prints each once with its size, alignment and fields. Any change
//! to a crossing type changes this text: review it, bump `ABI_VERSION` when the change is
//! incompatible, then regenerate with
//! `LMMROTATE_BLESS=1 cargo test -p lmmrotate-abi --test layout`.

use lmmrotate_abi::{
    abi_stable::{type_layout::TypeLayout, StableAbi},
    LmmPluginRef, ABI_VERSION,
};
use std::collections::HashSet;

fn describe(root: &'static TypeLayout) -> String {
    // Generic instances print alike (`RResult`), so identity is abi_stable's type id and the
    // text of each instance is listed, sorted.
    let mut seen = HashSet::new();
    let mut out: Vec<String> = Vec::new();
    let mut stack = vec![root];
    while let Some(l) = stack.pop() {
        if !seen.insert(l.get_utypeid()) {
            continue;
        }
        let mut text = format!(
            "{} ({})\nsize {} align {} repr {:?}\n",
            l.full_type(),
            l.mod_path(),
            l.size(),
            l.alignment(),
            l.repr_attr()
        );
        if let Some(fields) = l.get_fields() {
            for f in fields.iter() {
                text.push_str(&format!("    {}: {}\n", f.name(), f.full_type()));
                // Function pointers and vtable methods: their signatures and every type they use.
                for func in f.function_range() {
                    text.push_str(&format!("        {func}\n"));
                    stack.extend(func.param_type_layouts.iter().map(|c| c()));
                    if let Some(ret) = func.return_type_layout() {
                        stack.push(ret());
                    }
                }
            }
        }
        out.push(text);
        for dep in l.shared_vars().type_layouts() {
            stack.push(dep());
        }
    }
    out.sort();
    out.concat()
}

#[test]
fn boundary_layout_matches_golden() {
    let text = format!("ABI_VERSION = {ABI_VERSION}\n{}", describe(<LmmPluginRef as StableAbi>::LAYOUT));
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/layout.golden");
    if std::env::var_os("LMMROTATE_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let golden = std::fs::read_to_string(&path).expect("tests/layout.golden missing: run with LMMROTATE_BLESS=1");
    assert!(
        golden == text,
        "the ABI layout changed; review the diff, bump ABI_VERSION if incompatible, and bless:\n{text}"
    );
}
