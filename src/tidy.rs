//! Executable rules: what ARCHITECTURE.md promises about where code lives,
//! checked over the source tree. Every module opens with a `//!` doc;
//! actix-web appears only in the HTTP layer and the server start; error
//! bodies are built only in the error module; the wall clock and
//! randomness are read only by the clock and entropy modules.

use std::path::{Path, PathBuf};

/// Every `.rs` file below `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The crates' sources, relative to the workspace root, with their text.
fn workspace() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    ["src", "events/src", "projections/src"]
        .iter()
        .flat_map(|dir| sources(&root.join(dir)))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (relative, text)
        })
        .collect()
}

/// Files (outside `allowed`) whose code mentions any of `needles`.
fn offenders(needles: &[&str], allowed: impl Fn(&str) -> bool) -> Vec<String> {
    let files = workspace();
    assert!(files.len() > 50, "the tree was not found");
    files
        .into_iter()
        .filter(|(path, _)| !allowed(path))
        .filter_map(|(path, text)| {
            let hits: Vec<&str> = needles
                .iter()
                .copied()
                .filter(|n| {
                    text.lines()
                        .any(|l| !l.trim_start().starts_with("//") && l.contains(n))
                })
                .collect();
            (!hits.is_empty()).then(|| format!("{path}: {}", hits.join(", ")))
        })
        .collect()
}

// The needles are assembled so this file does not match itself.
fn needle(parts: &[&str]) -> String {
    parts.concat()
}

#[test]
fn every_module_opens_with_a_doc_comment() {
    let missing: Vec<String> = workspace()
        .into_iter()
        .filter(|(_, text)| !text.trim_start().starts_with("//!"))
        .map(|(path, _)| path)
        .collect();
    assert!(missing.is_empty(), "no //! doc: {missing:?}");
}

#[test]
fn only_the_http_layer_and_the_server_start_know_the_web_framework() {
    let actix = needle(&["actix", "_web"]);
    let found = offenders(&[&actix], |p| {
        p.starts_with("src/http/") || p == "src/server.rs"
    });
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn error_bodies_are_built_only_in_the_error_module() {
    let description = needle(&["\"error", "_description\""]);
    let problem = needle(&["problem", "+json"]);
    let found = offenders(&[&description, &problem], |p| p == "src/http/error.rs");
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn the_wall_clock_and_randomness_are_read_only_through_the_context() {
    let needles = [
        needle(&["Utc::", "now"]),
        needle(&["Local::", "now"]),
        needle(&["SystemTime::", "now"]),
        needle(&["rand::", "rng"]),
        needle(&["rand::", "random"]),
        needle(&["get", "random"]),
        needle(&["now_", "v7()"]),
        needle(&["new_", "v4()"]),
    ];
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
    let found = offenders(&needles, |p| p == "src/clock.rs" || p == "src/entropy.rs");
    assert!(found.is_empty(), "{found:?}");
}
