//! The wasmtime engine configuration: one definition for the host's engine
//! (`sandbox`) and for the build script that precompiles the embedded plugin
//! (`build/precompile.rs` includes this file), so that the native code made
//! at build time fits the engine that loads it. Wasmtime checks the fit
//! itself when deserializing (its version, these settings, the CPU features
//! the code uses); the host compiles the plugin instead when it does not.

use wasmtime::Config;

/// The configuration of every engine that runs (or precompiles) a plugin.
pub fn engine_config() -> Config {
    let mut config = Config::new();
    // CPU time is bounded with epoch interruption (see `sandbox`).
    config.epoch_interruption(true);
    // Compiling function by function keeps the peak memory of a start-up
    // that compiles (a `--plugin` file) low: parallel compilation held ~90 MiB
    // for the embedded plugin; `run` must stay under 100 MiB whatever the input.
    config.parallel_compilation(false);
    config.wasm_component_model(true);
    config
}
