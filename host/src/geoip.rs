//! `[geoip]`: the MaxMind-format databases for IP enrichment.
//!
//! The plugin has no file access, so the host reads the files and hands
//! their bytes over with the configuration (WIT `config.geoip-databases`).
//! Each plugin instance holds its own copy: memory is about the databases'
//! file size per instance, plus the host's copy (README, "IP enrichment").
//!
//! ```toml
//! [geoip]
//! databases = ["/var/lib/GeoIP/GeoLite2-City.mmdb", "/var/lib/GeoIP/GeoLite2-ASN.mmdb"]
//! ```

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::Deserialize;

use claude_audit_plugin::detect::rule::{self, Need};

/// Largest database accepted (GeoIP2 City is about 120 MiB): a larger file
/// is more likely a mistake than a database, and each plugin instance
/// holds a copy.
const MAX_DATABASE_BYTES: u64 = 512 << 20;

/// The `[geoip]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoipConfig {
    /// `.mmdb` files (City or Country, ASN, Anonymous IP), in any order.
    #[serde(default)]
    pub databases: Vec<PathBuf>,
}

impl GeoipConfig {
    /// The databases' bytes, each checked for size.
    pub fn load(&self) -> Result<Vec<Vec<u8>>> {
        self.databases
            .iter()
            .map(|path| {
                let size = std::fs::metadata(path)
                    .with_context(|| format!("reading [geoip] database {}", path.display()))?
                    .len();
                anyhow::ensure!(
                    size <= MAX_DATABASE_BYTES,
                    "[geoip] database {} is {size} bytes, more than the {MAX_DATABASE_BYTES} accepted",
                    path.display()
                );
                std::fs::read(path)
                    .with_context(|| format!("reading [geoip] database {}", path.display()))
            })
            .collect()
    }
}

/// The bundled rules that need the databases (sorted ids).
pub fn rules_needing_databases() -> Vec<String> {
    let mut ids: Vec<String> = rule::bundled()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.needs.contains(&Need::Geoip))
        .map(|r| r.id)
        .collect();
    ids.sort();
    ids
}

/// The start-up notice when detections run without databases: which rules
/// are inactive and why. `None` when there is nothing to say.
pub fn inactive_notice(detections: bool, databases: usize) -> Option<String> {
    if !detections || databases > 0 {
        return None;
    }
    Some(format!(
        "detections: {} inactive: no [geoip] databases configured (IP enrichment)",
        rules_needing_databases().join(", ")
    ))
}
