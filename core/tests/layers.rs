//! The pure crate stays pure: its manifest names no async runtime, AWS SDK or HTTP client, so
//! nothing in it can do I/O (the compiler refuses the `use`). Adding one fails here, with the
//! reason, before a reviewer has to notice.

const FORBIDDEN: [&str; 8] = [
    "tokio", "aws-", "reqwest", "hyper", "lambda", "axum", "futures", "tracing",
];

#[test]
fn the_pure_crate_depends_on_nothing_that_does_io() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .expect("core/Cargo.toml readable");
    let mut in_deps = false;
    let mut deps = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line.ends_with("dependencies]");
            continue;
        }
        if in_deps && let Some((name, _)) = line.split_once('=') {
            deps.push(name.trim().trim_end_matches(".workspace").to_owned());
        }
    }
    assert!(
        deps.contains(&"serde".to_owned()),
        "the manifest was read: {deps:?}"
    );
    for dep in &deps {
        assert!(
            !FORBIDDEN.iter().any(|f| dep.starts_with(f)),
            "pagedesk-core must stay free of I/O, but depends on {dep}: put the code that needs it in pagedesk-shared"
        );
    }
}
