//! The README's smallest program is `examples/minimal.rs`, and run for real it
//! shows each hook's progress line and the report.

mod support;

use std::time::Duration;

use support::Child;

#[test]
fn the_readme_program_is_the_example() {
    let readme = include_str!("../README.md");
    let example = include_str!("../examples/minimal.rs");
    let code = &example[example.find("use winddown::Shutdown;").unwrap()..];
    let block = format!("```rust,no_run\n{code}```");
    assert!(
        readme.contains(&block),
        "README.md's minimal program differs from examples/minimal.rs"
    );
}

#[test]
fn the_minimal_program_prints_progress_and_the_report() {
    let child = Child::example("minimal", &[]);
    child.expect_line("serving", Duration::from_secs(20));
    child.signal("INT");
    let status = child.wait(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0));
    let out = child.stdout_lines().join("\n");
    assert!(out.contains("received SIGINT: shutting down"), "{out}");
    assert!(out.contains("cleanup 1/1 done ("), "{out}");
    assert!(
        out.contains("shutdown report: clean (signal SIGINT)"),
        "{out}"
    );
    assert!(out.contains("database"), "{out}");
}
