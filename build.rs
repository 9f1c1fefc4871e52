//! Embeds the git commit the crate is built from (`RINGATTN_GIT_COMMIT`) for benchmark
//! results. Builds outside a git checkout (a source tarball, a copied tree) get
//! "unknown". The benchmark prefers `git rev-parse` at run time when the source
//! checkout is still there (it also sees uncommitted changes), see
//! `ringattn::suite::git_commit`.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    // `host_import`: targets where wgpu has a Vulkan backend and ash is a dependency
    // (the ring's zero-copy transport imports host memory into Vulkan devices).
    println!("cargo::rustc-check-cfg=cfg(host_import)");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let vendor = std::env::var("CARGO_CFG_TARGET_VENDOR").unwrap_or_default();
    if arch != "wasm32" && vendor != "apple" {
        println!("cargo:rustc-cfg=host_import");
    }
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=RINGATTN_GIT_COMMIT={commit}");
    println!("cargo:rerun-if-changed=build.rs");
    // Re-run when HEAD moves (a commit, a checkout). Only existing files are watched:
    // a missing one would make cargo re-run this script on every build.
    let mut watch = Vec::new();
    watch.extend(git(&["rev-parse", "--git-path", "HEAD"]));
    if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch.extend(git(&["rev-parse", "--git-path", &r]));
    }
    watch.extend(git(&["rev-parse", "--git-path", "packed-refs"]));
    for p in watch {
        if Path::new(&p).exists() {
            println!("cargo:rerun-if-changed={p}");
        }
    }
}
