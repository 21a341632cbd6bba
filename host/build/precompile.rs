//! Compiles the embedded plugin component to native code at build time, so
//! that `claude-audit` starts without running Cranelift (issue 15: the
//! compile took ~2 s and ~75 MiB at every start).
//!
//! The engine is configured by the very function the host uses
//! (`src/engine_config.rs`), and Cranelift targets the build machine with the
//! CPU features it detects there, as the host's engine does at run time. The
//! result is embedded with `include_bytes!` (read-only data of the binary:
//! native code is never read from a writable location). A binary moved to a
//! machine without those CPU features, or built for another target, gets an
//! empty file here or code wasmtime refuses to load; it then compiles the
//! plugin at start, as before.

use std::env;
use std::path::Path;

use crate::engine_config::engine_config;

/// Write the native code of the component at `wasm` to `out` (an empty file
/// when precompiling does not apply to this build).
pub fn precompile(wasm: &Path, out: &Path) {
    let target = env::var("TARGET").expect("set by cargo");
    let host = env::var("HOST").expect("set by cargo");
    let code = if target == host {
        let bytes = std::fs::read(wasm).expect("reading the plugin component");
        let engine = wasmtime::Engine::new(&engine_config())
            .expect("creating the wasmtime engine to precompile the plugin");
        engine
            .precompile_component(&bytes)
            .expect("precompiling the plugin component")
    } else {
        // Cranelift here is built for the host machine's architecture only.
        println!(
            "cargo:warning=cross-compiling for {target}: the plugin is compiled at start-up, \
             not precompiled"
        );
        Vec::new()
    };
    std::fs::write(out, code).expect("writing the precompiled plugin");
}
