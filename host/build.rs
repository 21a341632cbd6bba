//! Builds the WebAssembly plugins that the host embeds.
//!
//! `claude-audit` must work with no extra files, so the default plugin
//! component is compiled here (profile `wasm-release`, target `wasm32-wasip2`) and embedded with
//! `include_bytes!`. The test-only poison plugin (tests/poison-plugin) is
//! built in the same cargo call, which shares its dependencies, so that the
//! end-to-end tests can load it with `--plugin`.
//!
//! The Fluent Bit core module (the same plugin crate for `wasm32-wasip1`) is
//! built by a second cargo call, without wasm SIMD: Fluent Bit runs it in
//! WAMR's interpreter, whose SIMD support depends on how WAMR was built. It is
//! not embedded; the end-to-end tests load it from `CLAUDE_AUDIT_FLUENTBIT_WASM`.
//!
//! Missing wasm targets are added through rustup first (`build/targets.rs`).
//! The embedded component is then compiled to native code, embedded too
//! (`build/precompile.rs`), so that start-up does not compile it.
//!
//! The nested cargo uses its own target directory: sharing the outer one
//! would deadlock on cargo's build lock.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "src/engine_config.rs"]
mod engine_config;
#[path = "build/precompile.rs"]
mod precompile;
#[path = "build/targets.rs"]
mod targets;

const WASM_TARGET: &str = "wasm32-wasip2";
/// Target of the Fluent Bit core module.
const FLUENTBIT_TARGET: &str = "wasm32-wasip1";
/// Cargo profile of the wasm build (see the workspace Cargo.toml).
const WASM_PROFILE: &str = "wasm-release";
const PLUGIN_PACKAGE: &str = "claude-audit-plugin";
const POISON_PACKAGE: &str = "claude-audit-poison-plugin";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir.parent().expect("host/ sits in the workspace");
    for watched in [
        "plugin/src",
        "plugin/data",
        "plugin/Cargo.toml",
        "wit",
        "tests/poison-plugin",
        "Cargo.lock",
    ] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }
    targets::ensure_installed(&[WASM_TARGET, FLUENTBIT_TARGET]);
    let target_dir = workspace.join("target").join("wasm-plugins");
    // wasm SIMD (on by default in wasmtime) lets memchr and friends use
    // 128-bit vectors inside the sandbox.
    build(
        workspace,
        &target_dir,
        WASM_TARGET,
        &[PLUGIN_PACKAGE, POISON_PACKAGE],
        "-Ctarget-feature=+simd128",
    );
    // No extra flags: the module must load in any WAMR build.
    build(
        workspace,
        &target_dir,
        FLUENTBIT_TARGET,
        &[PLUGIN_PACKAGE],
        "",
    );
    let out = target_dir.join(WASM_TARGET).join(WASM_PROFILE);
    emit_path(
        "CLAUDE_AUDIT_PLUGIN_WASM",
        &out.join("claude_audit_plugin.wasm"),
    );
    let precompiled =
        PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("plugin.cwasm");
    precompile::precompile(&out.join("claude_audit_plugin.wasm"), &precompiled);
    emit_path("CLAUDE_AUDIT_PLUGIN_CWASM", &precompiled);
    emit_path(
        "CLAUDE_AUDIT_POISON_WASM",
        &out.join("claude_audit_poison_plugin.wasm"),
    );
    emit_path(
        "CLAUDE_AUDIT_FLUENTBIT_WASM",
        &target_dir
            .join(FLUENTBIT_TARGET)
            .join(WASM_PROFILE)
            .join("claude_audit_plugin.wasm"),
    );
}

/// One nested `cargo build` of `packages` for `target` with exactly
/// `rustflags` (encoded: flags separated by 0x1f; empty for none).
fn build(workspace: &Path, target_dir: &Path, target: &str, packages: &[&str], rustflags: &str) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args(["build", "--profile", WASM_PROFILE, "--target", target])
        .arg("--target-dir")
        .arg(target_dir);
    for package in packages {
        cmd.args(["-p", package]);
    }
    // The outer build's flags and wrappers (clippy, coverage, a host
    // --target) are for host code; they must not leak into the wasm build.
    // CARGO_ENCODED_RUSTFLAGS, even empty, takes precedence over every
    // other source of flags.
    cmd.env("CARGO_ENCODED_RUSTFLAGS", rustflags);
    for var in [
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .expect("running cargo to build the wasm plugin");
    if !status.success() {
        panic!(
            "building the wasm plugin for {target} failed ({status}). Is the target \
             installed? Run: rustup target add {WASM_TARGET} {FLUENTBIT_TARGET}"
        );
    }
}

fn emit_path(var: &str, path: &Path) {
    assert!(
        path.exists(),
        "expected {} after the wasm build",
        path.display()
    );
    println!("cargo:rustc-env={var}={}", path.display());
}
