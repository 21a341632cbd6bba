//! moto's server on loopback, standing in for S3 (with Object Lock) and CloudWatch Logs. The
//! test starts it on a free port, creates the bucket the way the README tells an SRE to (Object
//! Lock on, COMPLIANCE default retention), and reads back through boto3 (`moto_helper.py`) what
//! an auditor would check: the objects, their retention, the log group's retention, the events.

use std::net::{SocketAddr, TcpListener, TcpStream};
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
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
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

impl Moto {
    /// Start moto and create the Object Lock bucket.
    pub fn start() -> Self {
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .envs(AWS_ENV.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto's server (pip install 'moto[server]')");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "moto did not start on {addr}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let moto = Self {
            child,
            endpoint: format!("http://{addr}"),
        };
        moto.helper(&["setup", BUCKET, &RETENTION_DAYS.to_string()]);
        moto
    }

    /// Run `moto_helper.py VERB ENDPOINT ARGS...`; its JSON answer (null when it prints none).
    fn helper(&self, args: &[&str]) -> Value {
        let script = repo_file("tests/e2e/delivery/moto_helper.py");
        let out = Command::new("python3")
            .arg(script)
            .arg(args[0])
            .arg(&self.endpoint)
            .args(&args[1..])
            .envs(AWS_ENV.iter().copied())
            .output()
            .expect("run moto_helper.py");
        assert!(
            out.status.success(),
            "moto_helper {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// `{"object_lock", "objects": [{key, retention}], "events"}` of the bucket.
    pub fn bucket(&self) -> Value {
        self.helper(&["s3", BUCKET])
    }

    /// `{"retention_days", "events"}` of the log group.
    pub fn log_group(&self) -> Value {
        self.helper(&["logs", LOG_GROUP])
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
