//! `--profile`: the output schema, shared by `run`, `pull` and `serve`.
//!
//! The profile is a plugin setting (`[plugin] profile`); the flag overrides
//! it for one invocation, so a pipeline can pick its SIEM's schema without a
//! second configuration file.

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

/// The schemas events can be written in (README "Output profiles").
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProfileName {
    /// The canonical audit schema v1 (the default).
    Canonical,
    /// OCSF 1.8.0 (Security Lake, Google SecOps, Splunk's OCSF add-on).
    Ocsf,
    /// Elastic Common Schema 9.4.0 (Elasticsearch, OpenSearch).
    Ecs,
}

impl ProfileName {
    fn setting(self) -> &'static str {
        match self {
            Self::Canonical => "canonical",
            Self::Ocsf => "ocsf",
            Self::Ecs => "ecs",
        }
    }
}

/// The `--profile` option.
#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// Output schema: canonical, ocsf or ecs. Overrides `profile` in the
    /// config file's [plugin] table (default: canonical).
    #[arg(long, value_enum, value_name = "PROFILE")]
    pub profile: Option<ProfileName>,
}

impl ProfileArgs {
    /// The plugin settings JSON with `profile` set from the flag, if given.
    pub fn apply(&self, settings_json: String) -> Result<String> {
        let Some(profile) = self.profile else {
            return Ok(settings_json);
        };
        let mut settings: serde_json::Value =
            serde_json::from_str(&settings_json).context("reading the plugin settings")?;
        settings
            .as_object_mut()
            .context("the plugin settings must be a JSON object")?
            .insert("profile".into(), profile.setting().into());
        serde_json::to_string(&settings).context("encoding the plugin settings")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_overrides_the_config_and_its_absence_keeps_it() {
        let given = ProfileArgs {
            profile: Some(ProfileName::Ecs),
        };
        let out = given.apply(r#"{"profile":"ocsf","exclude_types":["a"]}"#.into());
        assert_eq!(out.unwrap(), r#"{"profile":"ecs","exclude_types":["a"]}"#);
        let absent = ProfileArgs { profile: None };
        assert_eq!(absent.apply("{}".into()).unwrap(), "{}");
    }
}
