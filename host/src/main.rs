//! `claude-audit`: turns Claude compliance telemetry into audit-ready
//! evidence. This file only parses the command line, runs the command and
//! maps the outcome to an exit code; the work lives in the modules below.
//!
//! Exit codes (documented in the README and `--help`):
//! - 0: success; every record was emitted or filtered by policy;
//! - 1: the run finished, but some records went to the dead-letter file
//!   (`reveal`: some pseudonyms were not found);
//! - 2: an error stopped the command (bad arguments, configuration, I/O,
//!   plugin that cannot be loaded);
//! - 3: `pull`: the Compliance API refused the key (401) or its scope (403);
//! - 4: `pull`: the Compliance API refused the request (400, other 4xx, or a
//!   5xx marked `x-should-retry: false`);
//! - 5: `verify`: the evidence (store, proof or report) does not verify.

mod cli;
mod config;
mod dead_letter;
mod engine_config;
mod evidence;
mod geoip;
mod input;
mod keys;
mod otlp;
mod output;
mod plugin;
mod pull;
mod runner;
mod sandbox;
mod serve;
mod shutdown;
mod sigma;
mod simulate;
mod state_file;
mod vault;

use std::process::ExitCode;

use clap::Parser;

/// Exit code when some records were dead-lettered.
const EXIT_DEAD_LETTERS: u8 = 1;
/// Exit code when an error stopped the command.
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Help and version requests are not errors.
            return if e.use_stderr() {
                ExitCode::from(EXIT_ERROR)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command.execute() {
        Ok(cli::Outcome::Clean) => ExitCode::SUCCESS,
        Ok(cli::Outcome::Partial) => ExitCode::from(EXIT_DEAD_LETTERS),
        Err(e) => {
            eprintln!("claude-audit: error: {e:#}");
            let code = e
                .downcast_ref::<pull::ApiStop>()
                .map_or(EXIT_ERROR, pull::ApiStop::exit_code);
            let code = if cli::verify::is_not_verified(&e) {
                cli::verify::EXIT_NOT_VERIFIED
            } else {
                code
            };
            ExitCode::from(code)
        }
    }
}
