//! `claude-audit serve`: the HTTP hop that agents post to.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;

use super::{KeyArgs, Outcome, SandboxArgs};
use crate::config::FileConfig;
use crate::dead_letter::DeadLetterWriter;
use crate::keys::{KeySource, Secret};
use crate::runner::{BatchLimits, Runner, Sinks};
use crate::sandbox::{PluginSetup, Sandbox};
use crate::serve::forward::Forwarder;
use crate::serve::{Job, Readers, ServeLimits, ServeStats, SharedBuffer};

/// Transform NDJSON posted by agents and forward it downstream.
///
/// Agents POST NDJSON (or a JSON array) to `http://LISTEN/ingest`. Each
/// request is run through the plugin and its events are POSTed as NDJSON
/// to --forward; the agent is answered 200 only once the downstream took
/// them. When the buffer is full, or the downstream stays down for
/// --forward-retry-secs, the answer is 503 with Retry-After, so that the
/// agent keeps the data and retries: nothing is lost between the two.
/// `GET /health` returns the counters as JSON.
#[derive(Debug, Args)]
pub struct ServeCommand {
    /// Configuration file (TOML): `[plugin]`, `[keys]`, `[input]`, as for `run`.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address to listen on. Use a loopback address unless a TLS proxy or
    /// a private network is in front of the hop.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,

    /// Downstream URL the events are POSTed to (NDJSON,
    /// `content-type: application/x-ndjson`).
    #[arg(long, value_name = "URL")]
    pub forward: String,

    /// Environment variable holding the downstream's whole `Authorization`
    /// header value (e.g. `Splunk 1234-...`). Never on the command line.
    #[arg(long, value_name = "VAR")]
    pub forward_auth_env: Option<String>,

    /// Most request bytes queued or in processing, in KiB; beyond it new
    /// requests get 503 (back-pressure).
    #[arg(long, value_name = "KIB", default_value_t = 65_536,
          value_parser = clap::value_parser!(u32).range(1..=4_194_304))]
    pub buffer_kib: u32,

    /// Largest request body, in KiB; larger ones get 413.
    #[arg(long, value_name = "KIB", default_value_t = 16_384,
          value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub max_body_kib: u32,

    /// Timeout of one downstream request, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub forward_timeout_secs: u64,

    /// How long a request's events are retried downstream before the agent
    /// is told 503, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub forward_retry_secs: u64,

    /// Append dead letters (rejected records, raw) here, mode 0600.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "claude-audit.serve.dead-letter.ndjson"
    )]
    pub dead_letter: PathBuf,

    /// Pseudonymization key options.
    #[command(flatten)]
    pub keys: KeyArgs,

    /// Sandbox options.
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

impl ServeCommand {
    /// Run the hop until it is killed (or fails).
    pub fn execute(self) -> Result<Outcome> {
        let config = FileConfig::load(self.config.as_deref())?;
        if self.keys.ephemeral_key {
            bail!(
                "--ephemeral-key cannot be used with serve: pseudonyms must stay the same across \
                 restarts; give a key file (--hmac-key-file or [keys] hmac)"
            );
        }
        let authorization = self.authorization()?;
        check_forward_url(&self.forward, authorization.is_some())?;
        let (hmac_keys, active_key_id) = self.keys.resolve(&config.keys)?;
        let setup = PluginSetup {
            settings_json: config.plugin_settings_json(false)?,
            hmac_keys,
            active_key_id,
        };
        let forwarder = Forwarder::new(
            self.forward.clone(),
            authorization,
            Duration::from_secs(self.forward_timeout_secs),
            Duration::from_secs(self.forward_retry_secs),
        );
        let stats = Arc::new(ServeStats::default());
        let (jobs_tx, jobs_rx) = mpsc::sync_channel::<Job>(4096);
        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        let worker = {
            let stats = Arc::clone(&stats);
            let wasm = crate::plugin::load(self.sandbox.plugin.as_deref())?;
            let limits = self.sandbox.limits();
            let dead_letter = self.dead_letter.clone();
            let max_record_bytes = config.input.max_record_bytes;
            std::thread::Builder::new()
                .name("worker".into())
                .spawn(move || -> Result<()> {
                    // The store is single-threaded: the plugin lives here.
                    let started = (|| {
                        let sandbox = Sandbox::new(&wasm, limits)?;
                        let instance = sandbox.instantiate(&setup)?;
                        let dead_letters = DeadLetterWriter::append(&dead_letter, None)?;
                        Ok::<_, anyhow::Error>((sandbox, instance, dead_letters))
                    })();
                    let (sandbox, instance, dead_letters) = match started {
                        Ok(parts) => {
                            let _ = ready_tx.send(Ok(()));
                            parts
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return Ok(());
                        }
                    };
                    let events = SharedBuffer::default();
                    let sinks = Sinks {
                        output: Box::new(events.clone()),
                        dead_letters,
                        vault: None,
                        alerts: None,
                    };
                    let batch = BatchLimits {
                        max_records: 1000,
                        max_bytes: 1 << 20,
                        max_record_bytes,
                    };
                    let mut runner = Runner::new(&sandbox, setup, instance, batch, sinks);
                    crate::serve::work(&mut runner, &events, jobs_rx, &forwarder, &stats)
                })
                .context("starting the worker thread")?
        };
        // A refused policy or key stops the hop before it listens.
        ready_rx
            .recv()
            .map_err(|_| anyhow!("the worker thread died while starting"))??;
        let server = crate::serve::listen(self.listen)?;
        let bound = server
            .server_addr()
            .to_ip()
            .context("the listener has no IP address")?;
        eprintln!(
            "claude-audit: serve: listening on http://{bound}/ingest, forwarding to {}",
            self.forward
        );
        let limits = ServeLimits {
            buffer_bytes: (self.buffer_kib as usize) << 10,
            max_body_bytes: (self.max_body_kib as usize) << 10,
        };
        let readers = Readers {
            server,
            jobs: jobs_tx,
            limits,
            stats,
        };
        readers.spawn()?;
        match worker.join() {
            Ok(result) => result.map(|()| Outcome::Clean),
            Err(_) => bail!("the worker thread panicked"),
        }
    }

    fn authorization(&self) -> Result<Option<Secret>> {
        self.forward_auth_env
            .as_ref()
            .map(|var| {
                KeySource {
                    file: None,
                    env: Some(var.clone()),
                }
                .load_header_value("downstream Authorization header")
            })
            .transpose()
    }
}

/// `https://` anywhere; `http://` only to loopback when credentials go
/// with it (plain http to a private agent without credentials is allowed).
fn check_forward_url(url: &str, with_credentials: bool) -> Result<()> {
    if url.starts_with("https://") {
        return Ok(());
    }
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("--forward must be an http:// or https:// URL (got {url:?})");
    };
    if with_credentials && !crate::pull::config::is_loopback_authority(rest) {
        bail!(
            "--forward {url:?} is plain http: the Authorization header would cross the network \
             in clear; use https://"
        );
    }
    Ok(())
}
