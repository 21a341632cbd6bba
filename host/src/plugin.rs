//! Where the plugin comes from: the component embedded at build time (see
//! `build.rs`) with its native code precompiled at build time, or a file
//! given with `--plugin`, compiled at start.

use std::borrow::Cow;
use std::path::Path;

use anyhow::{Context, Result};

/// The default plugin component, built from `plugin/` by `build.rs`.
pub static DEFAULT_PLUGIN: &[u8] = include_bytes!(env!("CLAUDE_AUDIT_PLUGIN_WASM"));

/// [`DEFAULT_PLUGIN`] compiled to native code by `build.rs`
/// (`Engine::precompile_component`); empty when the build could not.
static DEFAULT_PLUGIN_PRECOMPILED: &[u8] = include_bytes!(env!("CLAUDE_AUDIT_PLUGIN_CWASM"));

/// A plugin to run.
pub struct Plugin {
    /// The component (WebAssembly).
    pub wasm: Cow<'static, [u8]>,
    /// Its native code, made at build time by this binary's build script:
    /// only the embedded plugin has it.
    pub precompiled: Option<&'static [u8]>,
}

/// The plugin to run: `path`, or the embedded default.
pub fn load(path: Option<&Path>) -> Result<Plugin> {
    match path {
        None => Ok(Plugin {
            wasm: DEFAULT_PLUGIN.into(),
            precompiled: Some(DEFAULT_PLUGIN_PRECOMPILED).filter(|code| !code.is_empty()),
        }),
        Some(path) => Ok(Plugin {
            wasm: std::fs::read(path)
                .with_context(|| format!("reading plugin {}", path.display()))?
                .into(),
            precompiled: None,
        }),
    }
}
