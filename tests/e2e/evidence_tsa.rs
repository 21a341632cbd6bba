//! RFC 3161 time-stamps on reports end to end: `report --tsa URL` against
//! a local TSA (`openssl ts -reply` behind a loopback HTTP server, with a CA
//! and a TSA certificate made per test), `verify --report [--tsa-cert]`,
//! and `openssl ts -verify` on the same token.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::evidence::{EXIT_NOT_VERIFIED, EXIT_TAIL, generate_key, report_cmd};
use crate::util::{BIN, EXIT_ERROR, Sandbox, fixture, run, stderr};

/// Whether openssl is here; the tests say so and pass when it is not.
fn openssl_missing() -> bool {
    let found = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("SKIPPED: openssl is not installed; the TSA tests need `openssl ts -reply`");
    }
    !found
}

fn openssl(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
    out
}

/// The key type of a CA and its TSA.
#[derive(Clone, Copy)]
enum KeyKind {
    Rsa,
    EcP384,
}

impl KeyKind {
    fn args(self) -> &'static [&'static str] {
        match self {
            Self::Rsa => &["-newkey", "rsa:2048"],
            Self::EcP384 => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
        }
    }
}

/// A TSA: `ca.pem` (root), `tsa.pem` (critical EKU timeStamping), and
/// `openssl ts -reply` answering on loopback until dropped.
struct Tsa {
    dir: PathBuf,
    url: String,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl Tsa {
    /// `tsa_options` are extra lines of the openssl TSA section.
    fn start(dir: PathBuf, kind: KeyKind, tsa_options: &str) -> Self {
        std::fs::create_dir_all(&dir).unwrap();
        let mut ca = vec![
            "req", "-x509", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        ];
        ca.extend(kind.args());
        ca.extend(["-subj", "/CN=Test TSA Root", "-days", "2"]);
        openssl(&dir, &ca);
        let mut csr = vec![
            "req", "-new", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr",
        ];
        csr.extend(kind.args());
        csr.extend(["-subj", "/CN=Test TSA"]);
        openssl(&dir, &csr);
        std::fs::write(
            dir.join("tsa.ext"),
            "extendedKeyUsage=critical,timeStamping\n",
        )
        .unwrap();
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                "tsa.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                "2",
                "-days",
                "2",
                "-out",
                "tsa.pem",
                "-extfile",
                "tsa.ext",
            ],
        );
        std::fs::write(dir.join("tsaserial"), "01\n").unwrap();
        let conf = format!(
            "[ tsa ]\ndefault_tsa = t\n[ t ]\ndir = {}\nserial = $dir/tsaserial\n\
             signer_cert = $dir/tsa.pem\nsigner_key = $dir/tsa.key\nsigner_digest = sha256\n\
             default_policy = 1.2.3.4.1\naccuracy = secs:1\n{tsa_options}\n",
            dir.display()
        );
        std::fs::write(dir.join("tsa.cnf"), conf).unwrap();
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind TSA"));
        let url = format!("http://{}/tsa", server.server_addr().to_ip().unwrap());
        let thread = {
            let (server, dir) = (server.clone(), dir.clone());
            std::thread::spawn(move || {
                for (n, request) in server.incoming_requests().enumerate() {
                    answer(&dir, n, request);
                }
            })
        };
        Self {
            dir,
            url,
            server,
            thread: Some(thread),
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Tsa {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One request: the query to a file, `openssl ts -reply`, the reply back.
/// With a file `replay` in `dir`, every later request gets the first reply
/// again (a replaying or misbehaving TSA).
fn answer(dir: &Path, n: usize, mut request: tiny_http::Request) {
    let (query, mut reply) = (format!("q{n}.tsq"), format!("r{n}.tsr"));
    let mut body = Vec::new();
    std::io::Read::read_to_end(request.as_reader(), &mut body).unwrap();
    std::fs::write(dir.join(&query), &body).unwrap();
    let kind = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("content-type"))
        .map(|h| h.value.to_string());
    assert_eq!(kind.as_deref(), Some("application/timestamp-query"));
    if n > 0 && dir.join("replay").exists() {
        reply = "r0.tsr".to_owned();
    } else {
        openssl(
            dir,
            &[
                "ts",
                "-reply",
                "-config",
                "tsa.cnf",
                "-queryfile",
                &query,
                "-out",
                &reply,
            ],
        );
    }
    let header = tiny_http::Header::from_bytes("content-type", "application/timestamp-reply");
    let response = tiny_http::Response::from_data(std::fs::read(dir.join(&reply)).unwrap())
        .with_header(header.unwrap());
    let _ = request.respond(response);
}

/// A store with the fixture's events, and its signing key.
struct Store {
    sandbox: Sandbox,
    vkey: String,
}

impl Store {
    fn new() -> Self {
        let sandbox = Sandbox::new();
        let vkey = generate_key(&sandbox, "signing.key", "audit.example.com/claude");
        let out = run(sandbox
            .run_cmd()
            .arg(fixture("activities.ndjson"))
            .arg("--output")
            .arg(sandbox.path("events.ndjson"))
            .arg("--evidence")
            .arg(sandbox.path("store"))
            .arg("--evidence-key-file")
            .arg(sandbox.path("signing.key")));
        assert!(out.status.success(), "{}", stderr(&out));
        Self { sandbox, vkey }
    }

    /// `report` into `out` with `seed`, time-stamped at `tsa` if given.
    fn report(&self, out: &str, seed: &str, tsa: Option<&str>) -> Output {
        let (store, out) = (self.sandbox.path("store"), self.sandbox.path(out));
        let mut cmd = report_cmd(&self.sandbox, &store, &out, "3", seed);
        if let Some(url) = tsa {
            cmd.args(["--tsa", url]);
        }
        run(&mut cmd)
    }

    /// `verify --report out`, anchored in `anchor` if given.
    fn verify(&self, out: &str, anchor: Option<&Path>) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.arg("verify")
            .arg("--report")
            .arg(self.sandbox.path(out))
            .args(["--key", &self.vkey]);
        if let Some(a) = anchor {
            cmd.arg("--tsa-cert").arg(a);
        }
        run(&mut cmd)
    }

    fn copy_report(&self, from: &str, to: &str) {
        let to = self.sandbox.path(to);
        std::fs::create_dir_all(&to).unwrap();
        for e in std::fs::read_dir(self.sandbox.path(from)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_rejected(out: &Output, says: &str) {
    assert_eq!(
        out.status.code(),
        Some(EXIT_NOT_VERIFIED),
        "{}",
        stderr(out)
    );
    assert!(
        stderr(out).contains(says),
        "want {says:?} in: {}",
        stderr(out)
    );
}

#[test]
fn an_rsa_tsa_token_verifies_anchored_and_with_openssl_and_forgeries_are_rejected() {
    if openssl_missing() {
        return;
    }
    let store = Store::new();
    let tsa = Tsa::start(store.sandbox.path("tsa"), KeyKind::Rsa, "digests = sha256");
    let out = store.report("report", "1", Some(&tsa.url));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("time-stamped by CN=Test TSA"),
        "{}",
        stderr(&out)
    );
    let report = store.sandbox.path("report");

    // The request, read by openssl: v1, SHA-256 of report.json, a nonce,
    // certReq.
    let query = openssl(&tsa.dir, &["ts", "-query", "-in", "q0.tsq", "-text"]);
    let query = String::from_utf8_lossy(&query.stdout).into_owned();
    let digest = sha256_hex(&std::fs::read(report.join("report.json")).unwrap());
    // "    0000 - 58 91 ... 08-6d ... d2   X...": 16 bytes after the offset.
    let imprint: String = query
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("00")?.get(5..52))
        .collect::<String>()
        .replace(['-', ' '], "");
    assert_eq!(imprint, digest, "{query}");
    for want in [
        "Version: 1",
        "Hash Algorithm: sha256",
        "Nonce: 0x",
        "Certificate required: yes",
    ] {
        assert!(query.contains(want), "{want:?} in {query}");
    }

    // Anchored in the root, or in the TSA certificate itself.
    for anchor in ["ca.pem", "tsa.pem"] {
        let ok = store.verify("report", Some(&tsa.file(anchor)));
        assert!(ok.status.success(), "{}", stderr(&ok));
        let said = stdout(&ok);
        assert!(said.contains("time-stamp token verified"), "{said}");
        assert!(said.contains("by CN=Test TSA (serial 02"), "{said}");
        assert!(said.contains("policy 1.2.3.4.1"), "{said}");
        assert!(said.contains("time-stamp token anchored"), "{said}");
    }
    // Not anchored: checked, said plainly, exit 1.
    let unanchored = store.verify("report", None);
    assert_eq!(
        unanchored.status.code(),
        Some(EXIT_TAIL),
        "{}",
        stderr(&unanchored)
    );
    assert!(stdout(&unanchored).contains("time-stamp token verified"));
    assert!(stderr(&unanchored).contains("NOT trust-anchored"));

    // OpenSSL agrees: the token is over report.json.
    let checked = Command::new("openssl")
        .current_dir(&report)
        .args([
            "ts",
            "-verify",
            "-in",
            "report.tsr",
            "-token_in",
            "-data",
            "report.json",
        ])
        .arg("-CAfile")
        .arg(tsa.file("ca.pem"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&checked.stdout).contains("Verification: OK"),
        "openssl ts -verify: {}",
        stderr(&checked)
    );

    // report.json changed after stamping (and re-signed would not help:
    // the token names the old digest; here the signature catches it first).
    store.copy_report("report", "altered");
    let json = std::fs::read(report.join("report.json")).unwrap();
    let mut bad = json.clone();
    let at = bad.len() / 2;
    bad[at] = if bad[at] == b'1' { b'2' } else { b'1' };
    std::fs::write(store.sandbox.path("altered/report.json"), &bad).unwrap();
    assert_rejected(
        &store.verify("altered", Some(&tsa.file("ca.pem"))),
        "report",
    );

    // A token over another digest: another signed report with this token.
    let out = store.report("other", "2", None);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::copy(
        report.join("report.tsr"),
        store.sandbox.path("other/report.tsr"),
    )
    .unwrap();
    assert_rejected(
        &store.verify("other", Some(&tsa.file("ca.pem"))),
        "time-stamps another digest",
    );

    // One byte of the TSA's signature flipped (the token's last byte).
    store.copy_report("report", "flipped");
    let mut token = std::fs::read(report.join("report.tsr")).unwrap();
    *token.last_mut().unwrap() ^= 0x01;
    std::fs::write(store.sandbox.path("flipped/report.tsr"), &token).unwrap();
    assert_rejected(
        &store.verify("flipped", Some(&tsa.file("ca.pem"))),
        "the TSA's signature over the token",
    );

    // A token by another TSA key, whose CA has the same name as ours.
    let rogue = Tsa::start(
        store.sandbox.path("rogue"),
        KeyKind::Rsa,
        "digests = sha256",
    );
    let out = store.report("rogue-report", "1", Some(&rogue.url));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_rejected(
        &store.verify("rogue-report", Some(&tsa.file("ca.pem"))),
        "is not signed by the trust anchor",
    );
    // The other TSA's certificate itself, pinned, is not ours either.
    assert_rejected(
        &store.verify("report", Some(&rogue.file("tsa.pem"))),
        "neither is the trust anchor",
    );

    // --tsa-cert demands a token.
    let out = store.report("plain", "1", None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_rejected(
        &store.verify("plain", Some(&tsa.file("ca.pem"))),
        "no time-stamp token",
    );
    let plain = store.verify("plain", None);
    assert!(plain.status.success(), "{}", stderr(&plain));
}

#[test]
fn an_ecdsa_p384_tsa_with_signing_certificate_v1_and_millisecond_gentime_verifies() {
    if openssl_missing() {
        return;
    }
    let store = Store::new();
    let tsa = Tsa::start(
        store.sandbox.path("tsa"),
        KeyKind::EcP384,
        // genTime with milliseconds, as many TSAs send it.
        "digests = sha256\ness_cert_id_alg = sha1\nclock_precision_digits = 3",
    );
    let out = store.report("report", "1", Some(&tsa.url));
    assert!(out.status.success(), "{}", stderr(&out));
    let ok = store.verify("report", Some(&tsa.file("ca.pem")));
    assert!(ok.status.success(), "{}", stderr(&ok));
    let said = stdout(&ok);
    assert!(said.contains("time-stamp token anchored"), "{said}");
    let at = said.split("time-stamped at ").nth(1).unwrap();
    let gen_time = at.split(' ').next().unwrap();
    // DER GeneralizedTime drops trailing zeros of the fraction (".120" is
    // written ".12", ".000" not at all), so the length varies with the clock.
    let whole = "2026-12-02T10:59:29".len();
    assert!(gen_time.ends_with('Z') && gen_time.len() > whole, "{said}");
    let fraction = &gen_time[whole..gen_time.len() - 1];
    assert!(
        fraction.is_empty() || fraction.starts_with('.') && (2..=4).contains(&fraction.len()),
        "{said}"
    );
}

#[test]
fn a_tsa_refusal_or_absence_fails_report_with_the_reason_and_keeps_the_signed_report() {
    if openssl_missing() {
        return;
    }
    let store = Store::new();
    // This TSA accepts SHA-384 imprints only: openssl answers "rejection".
    let tsa = Tsa::start(store.sandbox.path("tsa"), KeyKind::Rsa, "digests = sha384");
    let out = store.report("report", "1", Some(&tsa.url));
    assert_eq!(out.status.code(), Some(EXIT_ERROR), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(said.contains("status 2 (rejection)"), "{said}");
    assert!(said.contains("badAlg"), "{said}");
    assert!(
        said.contains("report.json, its signature and report.html are written"),
        "{said}"
    );
    assert!(!store.sandbox.path("report/report.tsr").exists());
    let ok = store.verify("report", None);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(stdout(&ok).contains("no time-stamp token"));

    // A TSA that answers with its first token again: not over our digest.
    let replay = Tsa::start(
        store.sandbox.path("replay"),
        KeyKind::Rsa,
        "digests = sha256",
    );
    let out = store.report("first", "1", Some(&replay.url));
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(replay.file("replay"), "").unwrap();
    let out = store.report("second", "2", Some(&replay.url));
    assert_eq!(out.status.code(), Some(EXIT_ERROR), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("time-stamps another digest"),
        "{}",
        stderr(&out)
    );
    assert!(!store.sandbox.path("second/report.tsr").exists());

    // Nobody listening.
    let gone = {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        format!("http://{}/", server.server_addr().to_ip().unwrap())
    };
    let out = store.report("report", "1", Some(&gone));
    assert_eq!(out.status.code(), Some(EXIT_ERROR), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("sending the time-stamp request"),
        "{}",
        stderr(&out)
    );
}
