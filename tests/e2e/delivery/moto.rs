//! moto's server on loopback, standing in for S3 (with Object Lock) and CloudWatch Logs. The
//! test starts it, creates the bucket the way the README tells an SRE to (Object Lock on,
//! COMPLIANCE default retention), and reads back through boto3 (`moto_helper.py`) what an
//! auditor would check: the objects, their retention, the log group's retention, the events.
//!
//! moto speaks TLS, on port 443 of a random loopback address (127.x.y.z), with a self-signed
//! certificate made for the run, which the agents are told to trust (`tls.ca_file`, in the
//! test only). Why: Fluent Bit's `cloudwatch_logs` output always speaks TLS to port 443 of its
//! `endpoint` (a host name, no scheme, no port), so that is the only way to point it at
//! loopback; every AWS route then uses the same server. Binding port 443 needs root (or
//! `CAP_NET_BIND_SERVICE`), which the CI container has.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::repo_file;

/// The fake AWS credentials both agents read from their environment (default chain).
pub const AWS_ENV: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_DEFAULT_REGION", "us-east-1"),
    // No instance-metadata probing on a test machine.
    ("AWS_EC2_METADATA_DISABLED", "true"),
];

/// The bucket and log group the tests use, and the retention the README prescribes.
pub const BUCKET: &str = "claude-audit-evidence-test";
pub const LOG_GROUP: &str = "/claude-audit/events";
pub const RETENTION_DAYS: u64 = 2192;

/// A running moto server; stopped when dropped.
pub struct Moto {
    child: Child,
    /// Its loopback address (127.x.y.z, port 443).
    pub host: String,
    /// The certificate it presents, for the agents' `tls.ca_file` and boto3's CA bundle.
    pub ca_file: PathBuf,
    _dir: tempfile::TempDir,
}

/// True when moto's server and boto3 can be imported.
pub fn available() -> bool {
    Command::new("python3")
        .args(["-c", "import moto.server, boto3"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A loopback address of 127.0.0.0/8 whose port 443 is free (random, so parallel test runs
/// on one machine do not collide); an error when port 443 cannot be bound at all.
fn free_https_host() -> Result<String, String> {
    let seed = std::process::id() as u128 * 7919
        + std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
    let mut last = String::new();
    for i in 0..16u128 {
        let n = seed.wrapping_add(i * 104_729);
        let host = format!(
            "127.{}.{}.{}",
            100 + n % 150,
            (n >> 8) % 250,
            2 + (n >> 16) % 250
        );
        match TcpListener::bind((host.as_str(), 443)) {
            Ok(_) => return Ok(host),
            Err(e) => last = format!("{host}:443: {e}"),
        }
    }
    Err(format!(
        "cannot bind a loopback port 443 ({last}); run as root or grant CAP_NET_BIND_SERVICE"
    ))
}

impl Moto {
    /// Start moto with TLS and create the Object Lock bucket; an error when port 443 cannot be
    /// bound.
    pub fn start() -> Result<Self, String> {
        let host = free_https_host()?;
        let dir = tempfile::tempdir().unwrap();
        let (ca_file, key) = (dir.path().join("moto.crt"), dir.path().join("moto.key"));
        run_helper(&[
            "cert",
            &host,
            &ca_file.display().to_string(),
            &key.display().to_string(),
        ]);
        let child = Command::new("python3")
            .args(["-m", "moto.server", "-H", host.as_str(), "-p", "443", "-c"])
            .arg(&ca_file)
            .arg("-k")
            .arg(&key)
            .envs(AWS_ENV.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto's server (pip install 'moto[server]')");
        let addr: SocketAddr = format!("{host}:443").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "moto did not start on {addr}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let moto = Self {
            child,
            host,
            ca_file,
            _dir: dir,
        };
        moto.helper(&["setup", BUCKET, &RETENTION_DAYS.to_string()]);
        Ok(moto)
    }

    /// `https://127.x.y.z`, the endpoint URL of every AWS service moto stands in for.
    pub fn endpoint(&self) -> String {
        format!("https://{}", self.host)
    }

    /// Run `moto_helper.py VERB ENDPOINT ARGS...`; its JSON answer (null when it prints none).
    fn helper(&self, args: &[&str]) -> Value {
        let mut all = vec![args[0].to_string(), self.endpoint()];
        all.extend(args[1..].iter().map(|a| a.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        run_helper_with(&all, Some(&self.ca_file))
    }

    /// `{"object_lock", "objects": [{key, retention}], "events"}` of the bucket.
    pub fn bucket(&self) -> Value {
        self.helper(&["s3", BUCKET])
    }

    /// Download every object under `prefix` as stored into `dir`; `{"object_lock", "objects":
    /// [{key, retention}]}`.
    pub fn download(&self, prefix: &str, dir: &std::path::Path) -> Value {
        self.helper(&["download", BUCKET, prefix, &dir.display().to_string()])
    }

    /// `{"retention_days", "events"}` of the log group.
    pub fn log_group(&self) -> Value {
        self.helper(&["logs", LOG_GROUP])
    }
}

/// TLS (moto's certificate, on moto's address) in front of a plain-HTTP receiver, for agents
/// that speak only https to a destination (Fluent Bit's Sentinel DCE, Vector's Azure
/// authority host); stopped when dropped.
pub struct TlsProxy {
    child: Child,
    /// `127.x.y.z:PORT`.
    pub addr: String,
}

impl Moto {
    /// A TLS proxy forwarding to `target` (a receiver on 127.0.0.1).
    pub fn tls_proxy(&self, target: SocketAddr) -> TlsProxy {
        use std::io::BufRead;
        let script = repo_file("tests/e2e/delivery/moto_helper.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["tls-proxy", self.host.as_str(), &target.port().to_string()])
            .arg(&self.ca_file)
            .arg(self.ca_file.with_extension("key"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the TLS proxy");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("the TLS proxy's port");
        let addr = format!("{}:{}", self.host, line.trim());
        TlsProxy { child, addr }
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Write a Google service-account file (fresh RSA key) whose `token_uri` is `token_uri`.
pub fn service_account(path: &std::path::Path, token_uri: &str) {
    run_helper(&["service-account", &path.display().to_string(), token_uri]);
}

fn run_helper(args: &[&str]) -> Value {
    run_helper_with(args, None)
}

fn run_helper_with(args: &[&str], ca_file: Option<&std::path::Path>) -> Value {
    let script = repo_file("tests/e2e/delivery/moto_helper.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script).args(args).envs(AWS_ENV.iter().copied());
    if let Some(ca) = ca_file {
        cmd.env("AWS_CA_BUNDLE", ca);
    }
    let out = cmd.output().expect("run moto_helper.py");
    assert!(
        out.status.success(),
        "moto_helper {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
