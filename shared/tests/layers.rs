//! The folders of `shared/src` are layers, and each may use only the layers below it:
//! `runtime` < `adapters` < `store` < `contracts` < `services` < `http`. The compiler cannot
//! hold that line inside one crate, so this test reads the sources and fails on a `crate::`
//! path that points up (or sideways into a layer that is not below), naming the file.

use std::path::{Path, PathBuf};

/// Lowest first. `error` is the crate's error type, usable everywhere.
const LAYERS: [&str; 6] = [
    "runtime",
    "adapters",
    "store",
    "contracts",
    "services",
    "http",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a readable source folder") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The layers `source` names as `crate::<layer>`.
fn used_layers(source: &str) -> Vec<&'static str> {
    LAYERS
        .iter()
        .copied()
        .filter(|layer| {
            let needle = format!("crate::{layer}");
            source.match_indices(&needle).any(|(at, _)| {
                let next = source[at + needle.len()..].chars().next();
                // `crate::store::x`, `crate::store;` or `crate::store}`, not `crate::storey`.
                !next.is_some_and(|c| c.is_alphanumeric() || c == '_')
            })
        })
        .collect()
}

#[test]
fn each_layer_uses_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (rank, layer) in LAYERS.iter().enumerate() {
        let mut files = Vec::new();
        rust_files(&src.join(layer), &mut files);
        assert!(!files.is_empty(), "src/{layer} has sources");
        for file in files {
            let text = std::fs::read_to_string(&file).expect("a readable source file");
            checked += 1;
            for used in used_layers(&text) {
                let used_rank = LAYERS.iter().position(|l| *l == used).unwrap_or(rank);
                if used_rank > rank {
                    wrong.push(format!(
                        "{} (layer {layer}) uses crate::{used}, a layer above it",
                        file.strip_prefix(&src).unwrap_or(&file).display()
                    ));
                }
            }
        }
    }
    assert!(checked > 20, "the sources were found ({checked} files)");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_check_sees_a_use_that_points_up() {
    assert_eq!(
        used_layers("use crate::store::Store;\nuse crate::storey;"),
        ["store"]
    );
    assert_eq!(used_layers("crate::http}"), ["http"]);
    assert!(used_layers("pagedesk_shared::store::X").is_empty());
}
