//! Makes sure the wasm targets the plugins need are installed in the
//! toolchain that builds them, before the nested cargo calls run.
//!
//! `rust-toolchain.toml` names the targets, but rustup installs them only
//! when it installs the toolchain itself: a machine whose toolchain is
//! already there (or where `RUSTUP_AUTO_INSTALL=0`) gets a bare `can't find
//! crate for core` from deep inside the wasm build. So the build script
//! looks for each target in the sysroot of the very `rustc` cargo gave it,
//! adds the missing ones through rustup for that same toolchain
//! (`RUSTUP_TOOLCHAIN`, which rustup's proxies set), and otherwise stops
//! with the one command that fixes it.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Install the missing `targets` or stop the build with the command to run.
pub fn ensure_installed(targets: &[&str]) {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = sysroot(&rustc);
    let missing: Vec<&str> = targets
        .iter()
        .copied()
        .filter(|t| !installed(&sysroot, t))
        .collect();
    if missing.is_empty() {
        return;
    }
    let toolchain = env::var("RUSTUP_TOOLCHAIN").ok();
    let command = add_command(toolchain.as_deref(), &missing);
    println!(
        "cargo:warning=the wasm target(s) {} are missing from {}; running: {}",
        missing.join(", "),
        sysroot.display(),
        command.join(" ")
    );
    // Whatever rustup says (or if it is not there at all), the sysroot
    // decides: the targets are either in it now or not.
    // (rustup's own error says why; its backtrace would bury our message.)
    let _ = Command::new(&command[0])
        .args(&command[1..])
        .env_remove("RUST_BACKTRACE")
        .status();
    let still_missing: Vec<&str> = missing
        .iter()
        .copied()
        .filter(|t| !installed(&sysroot, t))
        .collect();
    if !still_missing.is_empty() {
        stop(&sysroot, toolchain.is_some(), &command, &still_missing);
    }
}

/// The sysroot of `rustc`, where `lib/rustlib/<target>` holds each
/// installed target's standard library.
fn sysroot(rustc: &OsString) -> PathBuf {
    let out = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .unwrap_or_else(|e| panic!("running {} --print sysroot: {e}", rustc.display()));
    assert!(
        out.status.success(),
        "{} --print sysroot failed: {}",
        rustc.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn installed(sysroot: &Path, target: &str) -> bool {
    sysroot
        .join("lib/rustlib")
        .join(target)
        .join("lib")
        .is_dir()
}

/// `rustup target add [--toolchain T] TARGETS...`: `--toolchain` pins the
/// install to the toolchain running this build, whatever rustup would pick
/// from the build script's working directory.
fn add_command(toolchain: Option<&str>, targets: &[&str]) -> Vec<String> {
    let mut command = vec!["rustup".to_owned(), "target".to_owned(), "add".to_owned()];
    if let Some(toolchain) = toolchain {
        command.extend(["--toolchain".to_owned(), toolchain.to_owned()]);
    }
    command.extend(targets.iter().map(|t| (*t).to_owned()));
    command
}

/// Fail the build with one clear line (`cargo::error`, shown by cargo as
/// an error of its own) instead of a panic's backtrace.
fn stop(sysroot: &Path, rustup: bool, command: &[String], missing: &[&str]) -> ! {
    let how = if rustup {
        format!("run once, then build again: {}", command.join(" "))
    } else {
        format!(
            "this toolchain is not managed by rustup: install the standard library of \
             these targets into {} (or use rustup, https://rustup.rs), then build again",
            sysroot.display()
        )
    };
    println!(
        "cargo::error=claude-audit embeds a WebAssembly plugin, which needs the Rust \
         target(s) {} (missing from {}) and they could not be added automatically; {how}",
        missing.join(" "),
        sysroot.display()
    );
    std::process::exit(1)
}
