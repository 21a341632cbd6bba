//! The only wasmtime code of the host: engine, component, linker and the
//! per-instance store with its limits.
//!
//! Set-up follows wasmtime's embedding examples: the [`Engine`], the compiled
//! [`Component`] and the [`Linker`] (pre-instantiated as a `TransformPre`) are
//! built once per process; each [`PluginInstance`] gets its own [`Store`] with
//! [`StoreLimits`] and a WASI context that grants nothing (no preopened
//! directories, no network, no environment, no arguments; stdio closed or
//! discarded, so a plugin cannot print record data to our terminal).
//!
//! An instance lives for many batches, because `configure` does the expensive
//! set-up once. After a trap the instance is dropped and a fresh one is made
//! from the pre-instantiated component: a trapped store must not be reused.
//!
//! CPU time is bounded with epoch interruption (cheaper than fuel): an
//! [`EpochTicker`] thread advances the engine's epoch every [`EPOCH_TICK`],
//! and each call gets a deadline in ticks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

mod bindings {
    wasmtime::component::bindgen!({
        world: "transform",
        path: "../wit",
    });
}

pub use bindings::claude_audit::transform::types::{
    BatchError, BatchOutput, ConfigError, ConfigErrorKind, RecordErrorKind,
};
use bindings::claude_audit::transform::types::{Config as PluginConfig, HmacKey as PluginHmacKey};
use bindings::{Transform, TransformPre};

use crate::engine_config::engine_config;
use crate::keys::HmacKey;
use crate::plugin::Plugin;

/// The ABI version of `wit/transform.wit` this host speaks.
pub const ABI_VERSION: u32 = 4;

/// What a plugin instance is configured with.
#[derive(Debug, Clone)]
pub struct PluginSetup {
    /// The `[plugin]` settings as JSON.
    pub settings_json: String,
    /// Pseudonymization keys.
    pub hmac_keys: Vec<HmacKey>,
    /// Id of the active key, when several are given.
    pub active_key_id: Option<String>,
    /// The `[geoip]` databases' bytes (each instance gets its own copy).
    pub geoip_databases: Vec<Vec<u8>>,
}

/// How often the epoch advances. A batch deadline is a whole number of ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Resource limits for one plugin instance.
#[derive(Debug, Clone, Copy)]
pub struct SandboxLimits {
    /// Largest linear memory the plugin may grow to, in bytes.
    pub memory_bytes: usize,
    /// Longest time one `process-batch` call may run.
    pub batch_timeout: Duration,
}

/// Per-store host state: WASI (granting nothing) and the memory limiter.
struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A compiled plugin, ready to be instantiated any number of times.
pub struct Sandbox {
    engine: Engine,
    pre: TransformPre<HostState>,
    limits: SandboxLimits,
    origin: CodeOrigin,
    _ticker: EpochTicker,
}

/// Where the plugin's native code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeOrigin {
    /// Precompiled at build time and embedded in the binary.
    Precompiled,
    /// Compiled at start (a `--plugin` file, or precompiled code that does
    /// not fit this machine).
    Compiled,
}

/// Why a call into the plugin failed. Never caused by bad record data alone:
/// the plugin reports that as dead letters. This is a bug or a limit.
#[derive(Debug, Clone)]
pub enum PluginFailure {
    /// The call ran past the batch deadline.
    Timeout,
    /// The plugin trapped (panic, out-of-bounds access, memory limit ...).
    Trap(String),
}

impl std::fmt::Display for PluginFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout => f.write_str("the plugin exceeded the batch time limit"),
            Self::Trap(why) => write!(f, "the plugin trapped: {why}"),
        }
    }
}

impl Sandbox {
    /// Load `plugin` (a component of the `transform` world) under `limits`:
    /// its precompiled code when it has code that fits this engine and
    /// machine, otherwise compiled now.
    pub fn new(plugin: &Plugin, limits: SandboxLimits) -> Result<Self> {
        let mut config = engine_config();
        if let Some(strategy) = profiling_strategy()? {
            config.profiler(strategy);
        }
        let engine = Engine::new(&config)
            .map_err(anyhow::Error::from)
            .context("creating the WebAssembly engine")?;
        let (component, origin) = load_component(&engine, plugin)?;
        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(anyhow::Error::from)
            .context("linking WASI")?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .context("the plugin does not fit the host (does it import more than WASI?)")?;
        let pre = TransformPre::new(pre)
            .map_err(anyhow::Error::from)
            .context("the plugin does not export the `claude-audit:transform/transform` world")?;
        let ticker = EpochTicker::start(engine.clone())?;
        Ok(Self {
            engine,
            pre,
            limits,
            origin,
            _ticker: ticker,
        })
    }

    /// Where the plugin's native code came from.
    pub fn origin(&self) -> CodeOrigin {
        self.origin
    }

    /// A new, configured instance. Fails on an ABI mismatch or a refused
    /// configuration.
    pub fn instantiate(&self, setup: &PluginSetup) -> Result<PluginInstance> {
        let mut instance = self.bare_instance()?;
        let abi = instance
            .call(|b, s| b.call_abi_version(s))
            .map_err(|f| anyhow::anyhow!("{f}"))
            .context("asking the plugin for its ABI version")?;
        if abi != ABI_VERSION {
            bail!("the plugin speaks ABI version {abi}, this host speaks {ABI_VERSION}");
        }
        let config = PluginConfig {
            settings_json: setup.settings_json.clone(),
            hmac_keys: setup
                .hmac_keys
                .iter()
                .map(|k| PluginHmacKey {
                    id: k.id.clone(),
                    secret: k.secret.bytes().to_vec(),
                })
                .collect(),
            active_key_id: setup.active_key_id.clone(),
            geoip_databases: setup.geoip_databases.clone(),
        };
        instance
            .call(|b, s| b.call_configure(s, &config))
            .map_err(|f| anyhow::anyhow!("{f}"))
            .context("configuring the plugin")?
            .map_err(|e| anyhow::anyhow!("{}", describe_config_error(&e)))
            .context("the plugin refused its settings")?;
        Ok(instance)
    }

    fn bare_instance(&self) -> Result<PluginInstance> {
        let state = HostState {
            // Deny by default: nothing is granted.
            wasi: WasiCtxBuilder::new().build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.limits.memory_bytes)
                // A component instantiates several core modules (the plugin and
                // the WASI adapter shims); one plugin is a handful of instances.
                .instances(16)
                .trap_on_grow_failure(true)
                .build(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_trap();
        let deadline_ticks =
            (self.limits.batch_timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(deadline_ticks);
        let bindings = self
            .pre
            .instantiate(&mut store)
            .map_err(anyhow::Error::from)
            .context("instantiating the plugin")?;
        Ok(PluginInstance {
            store,
            bindings,
            deadline_ticks,
        })
    }
}

/// The environment variable that opts in to profiling the plugin's code.
const PROFILE_ENV: &str = "CLAUDE_AUDIT_PROFILE";

/// `CLAUDE_AUDIT_PROFILE=perfmap`: wasmtime writes `/tmp/perf-PID.map`, which
/// names the plugin's compiled functions in `perf report`. Off by default.
/// The profiler is not among the settings wasmtime checks when it loads
/// precompiled code (nor does it change the code), so the build-time code
/// is still used and profiled as it runs in production.
fn profiling_strategy() -> Result<Option<wasmtime::ProfilingStrategy>> {
    match std::env::var(PROFILE_ENV) {
        Err(std::env::VarError::NotPresent) => Ok(None),
        Ok(value) if value.is_empty() || value == "none" => Ok(None),
        Ok(value) if value == "perfmap" => Ok(Some(wasmtime::ProfilingStrategy::PerfMap)),
        Ok(value) => bail!("{PROFILE_ENV}={value}: the only profiler is `perfmap`"),
        Err(e) => bail!("{PROFILE_ENV}: {e}"),
    }
}

/// The plugin's component: its precompiled code, or compiled from its wasm.
fn load_component(engine: &Engine, plugin: &Plugin) -> Result<(Component, CodeOrigin)> {
    if let Some(code) = plugin.precompiled {
        // SAFETY: `code` is what this binary's build script wrote with
        // `Engine::precompile_component` (see `plugin`), embedded read-only
        // in the executable: trusted input, as `deserialize` requires.
        // Wasmtime itself refuses code made by another version, another
        // configuration or for CPU features this machine lacks.
        match unsafe { Component::deserialize(engine, code) } {
            Ok(component) => {
                release_pages(code);
                return Ok((component, CodeOrigin::Precompiled));
            }
            Err(e) => eprintln!(
                "claude-audit: warning: the plugin code precompiled at build time does not fit \
                 this machine ({e}); compiling it now (slower start-up)"
            ),
        }
    }
    let component = Component::new(engine, &plugin.wasm)
        .map_err(anyhow::Error::from)
        .context("compiling the plugin component")?;
    Ok((component, CodeOrigin::Compiled))
}

/// Drop the pages of the embedded precompiled code from this process's
/// resident memory once wasmtime has copied it into its own code memory:
/// the bytes are never read again (a later load reads them back from the
/// executable file). Both copies are resident for a moment; without this,
/// the file-backed one (about 10 MiB) stayed resident for the whole run
/// and the plugin's memory came on top, which put a one-record `run` at
/// 40 MiB peak (issue 15's start-up target: at most 40 MiB).
#[cfg(target_os = "linux")]
fn release_pages(code: &'static [u8]) {
    // SAFETY: `sysconf` has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    let start = (code.as_ptr() as usize).next_multiple_of(page);
    let end = (code.as_ptr() as usize + code.len()) / page * page;
    if end > start {
        // SAFETY: the range is whole pages inside a `'static` read-only
        // array of the executable (a private file mapping), so
        // `MADV_DONTNEED` only drops clean pages, which the kernel maps
        // again from the file if they are read: the contents never change.
        // A failure only means the pages stay resident.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
}

/// Elsewhere the pages stay resident.
#[cfg(not(target_os = "linux"))]
fn release_pages(_code: &'static [u8]) {}

/// One live plugin instance with its store.
pub struct PluginInstance {
    store: Store<HostState>,
    bindings: Transform,
    deadline_ticks: u64,
}

impl PluginInstance {
    /// Run one batch. `Ok(Err(_))` is a batch-level refusal by the plugin.
    pub fn process_batch(
        &mut self,
        records: &[u8],
    ) -> Result<Result<BatchOutput, BatchError>, PluginFailure> {
        self.call(|b, s| b.call_process_batch(s, records))
    }

    /// The plugin's detection state (empty when detections are off).
    pub fn export_state(&mut self) -> Result<Vec<u8>, PluginFailure> {
        self.call(|b, s| b.call_export_state(s))
    }

    /// Restore a detection state; a refusal names its kind and reason.
    pub fn import_state(&mut self, state: &[u8]) -> Result<()> {
        self.call(|b, s| b.call_import_state(s, state))
            .map_err(|f| anyhow::anyhow!("{f}"))
            .context("importing the detection state")?
            .map_err(|e| anyhow::anyhow!("{} ({:?})", e.message, e.kind))
            .context("the plugin refused the detection state")
    }

    /// The schema version the plugin emits.
    pub fn schema_version(&mut self) -> Result<String, PluginFailure> {
        self.call(|b, s| b.call_schema_version(s))
    }

    /// Call into the guest under a fresh deadline, classifying failures.
    fn call<R>(
        &mut self,
        f: impl FnOnce(&Transform, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginFailure> {
        self.store.set_epoch_deadline(self.deadline_ticks);
        f(&self.bindings, &mut self.store).map_err(|e| match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => PluginFailure::Timeout,
            _ => PluginFailure::Trap(first_line(&format!("{e:#}"))),
        })
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

/// A configuration error as one line: `path: message (kind)`.
pub fn describe_config_error(e: &ConfigError) -> String {
    let kind = match e.kind {
        ConfigErrorKind::InvalidSyntax => "invalid syntax",
        ConfigErrorKind::UnknownField => "unknown field",
        ConfigErrorKind::InvalidValue => "invalid value",
        ConfigErrorKind::MissingKey => {
            "missing key; pass --hmac-key-file, --hmac-key-env, a [keys] section in the \
             config file, or --ephemeral-key"
        }
    };
    if e.path.is_empty() {
        format!("{} ({kind})", e.message)
    } else {
        format!("{}: {} ({kind})", e.path, e.message)
    }
}

/// Advances an engine's epoch every [`EPOCH_TICK`] until dropped; `Drop`
/// stops and joins the thread (as wasmtime's own `serve` command does).
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .context("starting the epoch ticker thread")?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::{DEFAULT_PLUGIN, load};

    fn limits() -> SandboxLimits {
        SandboxLimits {
            memory_bytes: 256 << 20,
            batch_timeout: Duration::from_secs(30),
        }
    }

    #[test]
    fn the_embedded_plugin_loads_its_build_time_code() {
        let plugin = load(None).unwrap();
        assert!(plugin.precompiled.is_some(), "build.rs precompiled it");
        let sandbox = Sandbox::new(&plugin, limits()).unwrap();
        assert_eq!(sandbox.origin(), CodeOrigin::Precompiled);
    }

    #[test]
    fn code_made_for_another_configuration_is_compiled_again() {
        // Code from an engine without epoch interruption cannot honour the
        // batch deadline: wasmtime must refuse it, and the host compile.
        let mut config = engine_config();
        config.epoch_interruption(false);
        let other = Engine::new(&config).unwrap();
        let code: &'static [u8] = other.precompile_component(DEFAULT_PLUGIN).unwrap().leak();
        let plugin = Plugin {
            wasm: DEFAULT_PLUGIN.into(),
            precompiled: Some(code),
        };
        let sandbox = Sandbox::new(&plugin, limits()).unwrap();
        assert_eq!(sandbox.origin(), CodeOrigin::Compiled);
        let setup = PluginSetup {
            settings_json: "{}".to_owned(),
            hmac_keys: vec![crate::keys::ephemeral_hmac_key().unwrap()],
            active_key_id: None,
            geoip_databases: Vec::new(),
        };
        let mut instance = sandbox.instantiate(&setup).unwrap();
        assert!(instance.schema_version().is_ok());
    }
}
