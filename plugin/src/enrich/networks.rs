//! The bundled list of hosting and anonymizer networks by ASN
//! (`plugin/data/hosting-asns.tsv`), embedded at build time.

use std::collections::HashMap;
use std::sync::LazyLock;

const HOSTING_ASNS_TSV: &str = include_str!("../../data/hosting-asns.tsv");

/// What kind of network an ASN is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkKind {
    /// Cloud and VPS providers.
    Hosting,
    /// Commercial VPN, proxy or Tor exit networks.
    Anonymizer,
}

/// The list, parsed once. A malformed line is a build defect (the unit test
/// loads the table), so it panics rather than run with half a list.
static NETWORKS: LazyLock<HashMap<u32, NetworkKind>> = LazyLock::new(|| {
    HOSTING_ASNS_TSV
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|line| {
            let mut cols = line.split('\t');
            let asn = cols.next().and_then(|a| a.parse().ok());
            let kind = match cols.next() {
                Some("hosting") => NetworkKind::Hosting,
                Some("anonymizer") => NetworkKind::Anonymizer,
                _ => panic!("hosting-asns.tsv: bad kind in {line:?}"),
            };
            (asn.expect("hosting-asns.tsv: bad ASN"), kind)
        })
        .collect()
});

/// The kind of network `asn` is, when the list names it.
pub fn kind(asn: u32) -> Option<NetworkKind> {
    NETWORKS.get(&asn).copied()
}
