//! Where the plugin comes from: the component embedded at build time (see
//! `build.rs`), or a file given with `--plugin`.

use std::path::Path;

use anyhow::{Context, Result};

/// The default plugin component, built from `plugin/` by `build.rs`.
pub static DEFAULT_PLUGIN: &[u8] = include_bytes!(env!("CLAUDE_AUDIT_PLUGIN_WASM"));

/// The bytes of the plugin to run: `path`, or the embedded default.
pub fn load(path: Option<&Path>) -> Result<std::borrow::Cow<'static, [u8]>> {
    match path {
        None => Ok(DEFAULT_PLUGIN.into()),
        Some(path) => std::fs::read(path)
            .map(Into::into)
            .with_context(|| format!("reading plugin {}", path.display())),
    }
}
