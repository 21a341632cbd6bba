//! `claude-audit serve`: the HTTP hop that agents post to.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;

use super::evidence::EvidenceArgs;
use super::profile::ProfileArgs;
use super::{KeyArgs, Outcome, SandboxArgs};
use crate::config::FileConfig;
use crate::dead_letter::DeadLetterWriter;
use crate::keys::{KeySource, Secret};
use crate::runner::{BatchLimits, Runner, Sinks};
use crate::sandbox::{PluginSetup, Sandbox};
use crate::serve::budget::Budget;
use crate::serve::checkpoint::Checkpoint;
use crate::serve::forward::Forwarder;
use crate::serve::readers::{Readers, Shared};
use crate::serve::stats::ServeStats;
use crate::serve::worker::{SharedBuffer, Worker};
use crate::serve::{Job, ServeLimits};
use crate::shutdown::Shutdown;

/// Transform NDJSON posted by agents and forward it downstream.
///
/// Agents POST NDJSON (or a JSON array) to `http://LISTEN/ingest`. Each
/// request is run through the plugin and its events are POSTed as NDJSON
/// to --forward; the agent is answered 200 only once the downstream took
/// them. When the buffer is full, or the downstream stays down for
/// --forward-retry-secs, the answer is 503 with Retry-After, so that the
/// agent keeps the data and retries: nothing is lost between the two.
/// `GET /health` returns the counters as JSON, `GET /metrics` as Prometheus
/// text. SIGTERM or SIGINT drains (at most --drain-secs) and exits 0; a
/// second signal stops at once.
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

    /// Memory budget for requests, in KiB: bodies being read, queued
    /// NDJSON, transformed events and dead letters awaiting the
    /// downstream's answer. A new body that does not fit gets 503
    /// (back-pressure). Must be at least --max-body-kib.
    #[arg(long, value_name = "KIB", default_value_t = 65_536,
          value_parser = clap::value_parser!(u32).range(1..=4_194_304))]
    pub buffer_kib: u32,

    /// Largest request body, in KiB; larger ones get 413. At most
    /// --buffer-kib.
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

    /// On SIGTERM/SIGINT, how long requests in flight may take to finish, in
    /// seconds; past it, queued requests are answered 503 unprocessed.
    #[arg(long, value_name = "SECS", default_value_t = 25,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub drain_secs: u64,

    /// Append dead letters (rejected records, raw) here, mode 0600. A
    /// request's dead letters are written once, when it is answered 200.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "claude-audit.serve.dead-letter.ndjson"
    )]
    pub dead_letter: PathBuf,

    /// Detection state: imported at start when the file exists, replaced
    /// atomically every --state-interval seconds (when requests were
    /// processed) and after a graceful shutdown, so that windows, baselines
    /// and raised alerts carry over a restart. Needs detections enabled.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// How often the detection state is saved, in seconds (with --state).
    /// A crash loses at most this much of what the engine learned.
    #[arg(long, value_name = "SECS", default_value_t = 60, requires = "state",
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub state_interval: u64,

    /// Pseudonymization key options.
    #[command(flatten)]
    pub keys: KeyArgs,

    /// Output schema.
    #[command(flatten)]
    pub profile: ProfileArgs,

    /// Sandbox options.
    #[command(flatten)]
    pub sandbox: SandboxArgs,

    /// Evidence store options: the events the downstream took are appended
    /// and synced before the agent is answered 200; a checkpoint is signed
    /// every N events, every T seconds and when the hop has drained.
    #[command(flatten)]
    pub evidence: EvidenceArgs,
}

impl ServeCommand {
    /// Run the hop until a signal has drained it (or it fails).
    pub fn execute(self) -> Result<Outcome> {
        let config = FileConfig::load(self.config.as_deref())?;
        self.check_options()?;
        if self.state.is_some() && !config.detections_enabled() {
            bail!("--state needs detections: set `enabled = true` in [plugin.detections]");
        }
        let authorization = self.authorization()?;
        check_forward_url(&self.forward, authorization.is_some())?;
        let (hmac_keys, active_key_id) = self.keys.resolve(&config.keys)?;
        let setup = PluginSetup {
            settings_json: self.profile.apply(config.plugin_settings_json(false)?)?,
            hmac_keys,
            active_key_id,
            geoip_databases: config.geoip_databases()?,
        };
        let forwarder = Forwarder::new(
            self.forward.clone(),
            authorization,
            Duration::from_secs(self.forward_timeout_secs),
            Duration::from_secs(self.forward_retry_secs),
        );
        let shared = Arc::new(Shared {
            stats: ServeStats::default(),
            budget: Budget::new((self.buffer_kib as usize) << 10),
            shutdown: Shutdown::new(Duration::from_secs(self.drain_secs)),
            reading: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
        });
        let (jobs_tx, jobs_rx) = mpsc::sync_channel::<Job>(4096);
        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        let worker = self.spawn_worker(&config, setup, forwarder, &shared, jobs_rx, ready_tx)?;
        // A refused policy or key stops the hop before it listens.
        ready_rx
            .recv()
            .map_err(|_| anyhow!("the worker thread died while starting"))??;
        self.serve_until_drained(&shared, jobs_tx, worker)?;
        eprintln!(
            "claude-audit: serve: drained and stopped: {}",
            shared.stats.json(&shared.budget)
        );
        Ok(Outcome::Clean)
    }

    /// Listen, start the readers and signal handling, and wait for the
    /// worker to finish (a drained shutdown, or a failure).
    fn serve_until_drained(
        &self,
        shared: &Arc<Shared>,
        jobs: mpsc::SyncSender<Job>,
        worker: JoinHandle<Result<()>>,
    ) -> Result<()> {
        let server = crate::serve::listen(self.listen)?;
        let bound = server
            .server_addr()
            .to_ip()
            .context("the listener has no IP address")?;
        shared.shutdown.on_signals("serve")?;
        eprintln!(
            "claude-audit: serve: listening on http://{bound}/ingest, forwarding to {}",
            self.forward
        );
        let readers = Readers {
            server,
            jobs,
            limits: ServeLimits {
                max_body_bytes: (self.max_body_kib as usize) << 10,
            },
            shared: Arc::clone(shared),
        };
        let reader_threads = readers.spawn()?;
        let result = match worker.join() {
            Ok(result) => result,
            Err(_) => Err(anyhow!("the worker thread panicked")),
        };
        shared.stopped.store(true, Ordering::SeqCst);
        // Let readers finish answering late requests (503), but never hang
        // on a client that is still sending a body.
        let until = Instant::now() + Duration::from_secs(1);
        while shared.reading.load(Ordering::SeqCst) > 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(reader_threads);
        result
    }

    /// Start the worker thread: it loads the plugin (reporting on `ready`
    /// whether that worked), then answers jobs until drained.
    fn spawn_worker(
        &self,
        config: &FileConfig,
        setup: PluginSetup,
        forwarder: Forwarder,
        shared: &Arc<Shared>,
        jobs: mpsc::Receiver<Job>,
        ready: mpsc::Sender<Result<()>>,
    ) -> Result<JoinHandle<Result<()>>> {
        let shared = Arc::clone(shared);
        let plugin = crate::plugin::load(self.sandbox.plugin.as_deref())?;
        let limits = self.sandbox.limits(config.plugin_holds_state());
        let dead_letter = self.dead_letter.clone();
        // Opened (and recovered) before the hop listens: a wrong key or a
        // damaged store stops it at start.
        let evidence = self.evidence.open_for_serve()?;
        let run = evidence.as_ref().map(|s| s.start_run("serve"));
        let checkpoint = self
            .state
            .clone()
            .map(|path| Checkpoint::new(path, Duration::from_secs(self.state_interval)));
        let batch = BatchLimits {
            max_records: 1000,
            max_bytes: 1 << 20,
            max_record_bytes: config.input.max_record_bytes,
        };
        std::thread::Builder::new()
            .name("worker".into())
            .spawn(move || -> Result<()> {
                // The store is single-threaded: the plugin lives here.
                let started = (|| {
                    let sandbox = Sandbox::new(&plugin, limits)?;
                    let mut instance = sandbox.instantiate(&setup)?;
                    let state = checkpoint
                        .as_ref()
                        .map(Checkpoint::load)
                        .transpose()?
                        .flatten();
                    if let Some(bytes) = &state {
                        instance.import_state(bytes)?;
                    }
                    // Held: a request's dead letters are written once it is answered 200.
                    let dead_letters = DeadLetterWriter::append(&dead_letter, None)?.hold();
                    Ok::<_, anyhow::Error>((sandbox, instance, dead_letters, state))
                })();
                let (sandbox, instance, dead_letters, state) = match started {
                    Ok(parts) => parts,
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return Ok(());
                    }
                };
                let _ = ready.send(Ok(()));
                let events = SharedBuffer::new(Arc::clone(&shared));
                let alerts = SharedBuffer::new(Arc::clone(&shared));
                let sinks = Sinks {
                    output: Box::new(events.clone()),
                    dead_letters,
                    vault: None,
                    alerts: Some(Box::new(alerts.clone())),
                };
                let mut runner = Runner::new(&sandbox, setup, instance, batch, sinks)
                    .started_with_state(state)
                    .with_detection_stage()?;
                let worker = Worker {
                    runner: &mut runner,
                    events,
                    forwarder,
                    shared,
                    evidence,
                    run,
                    checkpoint,
                    alerts,
                    pending_alerts: Vec::new(),
                };
                worker.run(jobs)?;
                runner.commit()
            })
            .context("starting the worker thread")
    }

    /// Refusals that need no file or key.
    fn check_options(&self) -> Result<()> {
        if self.keys.ephemeral_key {
            bail!(
                "--ephemeral-key cannot be used with serve: pseudonyms must stay the same across \
                 restarts; give a key file (--hmac-key-file or [keys] hmac)"
            );
        }
        if self.max_body_kib > self.buffer_kib {
            bail!(
                "--max-body-kib {} is larger than --buffer-kib {}: such a body could never fit the \
                 buffer; raise --buffer-kib or lower --max-body-kib",
                self.max_body_kib,
                self.buffer_kib
            );
        }
        Ok(())
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
