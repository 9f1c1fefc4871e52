//! Running the `ringattn` binary from the integration tests.
use std::process::{Command, Output};

/// Runs `ringattn args..` and waits for it.
pub fn ringattn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringattn")).args(args).output().expect("failed to start the ringattn binary")
}

/// (stdout, stderr) as text.
pub fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// Asserts the run succeeded (exit 0, no panic), printing its output otherwise; returns stdout.
pub fn assert_ok(o: &Output) -> String {
    let (out, err) = text(o);
    assert_eq!(o.status.code(), Some(0), "ringattn failed\n--- stdout\n{out}\n--- stderr\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    out
}
