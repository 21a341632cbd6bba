//! The configuration file (`--config FILE`, TOML).
//!
//! Pipeline behaviour lives here (input limits, the plugin's policy);
//! runtime knobs (batch size, sandbox limits) are command-line flags. Every
//! option is documented below and in the README; unknown keys are refused,
//! so that a typo cannot silently weaken a policy. Secrets never go in this
//! file: later key options name a file or an environment variable.
//!
//! ```toml
//! [input]
//! max_record_bytes = 1048576   # longer lines are dead-lettered as `too_long`
//!
//! [plugin]                     # handed to the plugin as JSON (README: "Plugin settings")
//! exclude_types = ["compliance_api_accessed"]
//! retention = { class = "audit_log", days = 2192, legal_hold = false }
//!
//! [keys]                       # sources only: files or environment variables
//! hmac = [{ id = "k1", file = "/etc/claude-audit/hmac-k1.key" }]
//! vault = { env = "CLAUDE_AUDIT_VAULT_KEY" }
//! ```

use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

pub use claude_audit_plugin::config::InputConfig;

use crate::keys::{HmacKeyConfig, KeySource};
use crate::pull::config::PullConfig;

/// The whole configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// How input is read.
    #[serde(default)]
    pub input: InputConfig,
    /// Plugin settings, passed through to the plugin's `configure` as JSON.
    /// The plugin validates them and names any bad key.
    #[serde(default)]
    pub plugin: toml::Table,
    /// Where keys are read from (never the keys themselves).
    #[serde(default)]
    pub keys: KeysConfig,
    /// `claude-audit pull`: the Compliance API poller.
    #[serde(default)]
    pub pull: Option<PullConfig>,
    /// `[content]`: what happens to conversation text (README,
    /// "Conversation content"); handed to the plugin as its `content`
    /// setting, which validates it.
    #[serde(default)]
    pub content: Option<toml::Table>,
    /// `[geoip]`: MaxMind-format databases for IP enrichment (README, "IP
    /// enrichment").
    #[serde(default)]
    pub geoip: crate::geoip::GeoipConfig,
}

/// `[keys]`: sources of the pseudonymization and vault keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// Id of the HMAC key that pseudonymizes (needed with several keys; the
    /// others stay listed for rotation).
    #[serde(default)]
    pub active: Option<String>,
    /// HMAC keys: `{ id = "k1", file = "/path" }` or `{ id = "k1", env = "VAR" }`.
    #[serde(default)]
    pub hmac: Vec<HmacKeyConfig>,
    /// Vault key source (`{ file = "/path" }` or `{ env = "VAR" }`).
    #[serde(default)]
    pub vault: Option<KeySource>,
}

impl FileConfig {
    /// Read and validate a configuration file; `None` gives the defaults.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        let config: FileConfig = toml::from_str(&text)
            .with_context(|| format!("parsing config file {}", path.display()))?;
        config
            .validate()
            .with_context(|| format!("checking config file {}", path.display()))?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        if let Some(pull) = &self.pull {
            pull.validate()?;
        }
        self.input.check().map_err(anyhow::Error::msg)
    }

    /// The `[geoip]` databases' bytes; prints which rules are inactive when
    /// detections run without any.
    pub fn geoip_databases(&self) -> Result<Vec<Vec<u8>>> {
        let databases = self.geoip.load()?;
        if let Some(notice) =
            crate::geoip::inactive_notice(self.detections_enabled(), databases.len())
        {
            eprintln!("{notice}");
        }
        Ok(databases)
    }

    /// Whether the plugin holds more than one batch's worth of memory: the
    /// detection engine's state, or `[geoip]` databases (copied into the
    /// plugin). Picks the default `--memory-limit-mib`.
    pub fn plugin_holds_state(&self) -> bool {
        self.detections_enabled() || !self.geoip.databases.is_empty()
    }

    /// Whether `[plugin.detections] enabled = true`.
    pub fn detections_enabled(&self) -> bool {
        self.plugin
            .get("detections")
            .and_then(|d| d.get("enabled"))
            .and_then(toml::Value::as_bool)
            .unwrap_or(false)
    }

    /// The `[plugin]` table as the JSON document `configure` takes, with
    /// `redaction.vault` set by the host (on exactly when a vault is open,
    /// so that no pseudonym pair is produced without a place to keep it).
    pub fn plugin_settings_json(&self, vault: bool) -> Result<String> {
        let mut plugin =
            serde_json::to_value(&self.plugin).context("encoding the [plugin] settings as JSON")?;
        anyhow::ensure!(
            plugin.get("stage").is_none(),
            "[plugin] stage is not a setting: claude-audit sets it on the plugin instance that \
             runs detections (README, \"Detections\"); remove it"
        );
        if vault || plugin.pointer("/redaction/vault").is_some() {
            let redaction = plugin
                .as_object_mut()
                .context("[plugin] must be a table")?
                .entry("redaction")
                .or_insert_with(|| serde_json::json!({}));
            if let Some(table) = redaction.as_object_mut() {
                table.insert("vault".into(), vault.into());
            }
        }
        if let Some(content) = &self.content {
            let content =
                serde_json::to_value(content).context("encoding the [content] table as JSON")?;
            plugin
                .as_object_mut()
                .context("[plugin] must be a table")?
                .insert("content".into(), content);
        }
        serde_json::to_string(&plugin).context("encoding the [plugin] settings as JSON")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_plugin_passthrough() {
        let c: FileConfig = toml::from_str("[plugin]\nexclude_types = [\"a\"]\n").unwrap();
        assert_eq!(
            c.input.max_record_bytes,
            claude_audit_plugin::config::DEFAULT_MAX_RECORD_BYTES
        );
        assert_eq!(
            c.plugin_settings_json(false).unwrap(),
            r#"{"exclude_types":["a"]}"#
        );
        assert_eq!(
            c.plugin_settings_json(true).unwrap(),
            r#"{"exclude_types":["a"],"redaction":{"vault":true}}"#
        );
    }

    #[test]
    fn unknown_keys_and_bad_limits_are_refused() {
        assert!(toml::from_str::<FileConfig>("[inptu]\n").is_err());
        let c: FileConfig = toml::from_str("[input]\nmax_record_bytes = 0\n").unwrap();
        assert!(c.validate().is_err());
    }
}
