//! The project walk of `claude-audit pull` (`[pull.content] families`
//! with `projects`, SPEC §10): one `claude_project_document` record per
//! project document, each read once.
//!
//! Projects and their attachments are paged with opaque `page` tokens
//! (`next_page`), not with a cursor bound to a sort key, and the project
//! list has no `updated_at` filter; so every walk lists all projects (100
//! per request) and reads the attachments only of those whose `updated_at`
//! is inside the overlap window behind the newest one seen by the last
//! complete walk, or newer. A document is read when its `created_at` is
//! inside the overlap window behind the newest document committed, or
//! newer, and its id was not committed: the recent-id discipline of the
//! Activity Feed, with the same `pull.overlap_secs` and
//! `pull.max_recent_ids`. The high-water marks move only at the end of a
//! complete walk, so a crash mid-walk re-reads with the old ones and the
//! ids committed so far keep it from writing a document twice.
//!
//! Attachments of type `project_file` (binary files) are not collected:
//! only `project_doc` (text) attachments are.

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::{Value, json};

use super::checkpoint::ProjectsCheckpoint;
use super::config::ContentPullConfig;
use super::content::{SCOPE_USER_DATA, nanos, wanted};
use super::time::{self, Nanos};
use super::{Poller, Request};

/// Projects, their attachments (`{PROJECTS_PATH}/{id}/attachments`) and
/// documents (`{PROJECTS_PATH}/documents/{id}`).
const PROJECTS_PATH: &str = "/v1/compliance/apps/projects";
/// The largest `limit` of the project and attachment lists (SPEC §10).
const PAGE_LIMIT: &str = "100";

/// A page of a list paged by token.
#[derive(Debug, Deserialize)]
struct TokenPage {
    data: Vec<Value>,
    #[serde(default)]
    next_page: Option<String>,
}

fn token_page(what: &'static str) -> impl Fn(&super::client::RawResponse) -> Result<TokenPage> {
    move |r| {
        serde_json::from_slice(&r.body)
            .with_context(|| format!("the API answered 200 with a body that is not {what}"))
    }
}

impl Poller<'_> {
    /// List every project; read the new documents of those updated since
    /// the last complete walk; then move the high-water marks.
    pub(super) fn walk_projects(&mut self, config: &ContentPullConfig) -> Result<()> {
        let overlap = self.overlap_nanos();
        let since = self
            .projects_state()
            .updated_high_water
            .map(|h| h - overlap);
        let mut newest = self.projects_state().updated_high_water;
        let mut token: Option<String> = None;
        loop {
            let mut params = vec![("limit".to_owned(), PAGE_LIMIT.to_owned())];
            for org in &config.organization_ids {
                params.push(("organization_ids[]".to_owned(), org.clone()));
            }
            if let Some(t) = &token {
                params.push(("page".to_owned(), t.clone()));
            }
            let request = Request::Get(PROJECTS_PATH.to_owned(), params);
            let page = self.fetch_with(&request, SCOPE_USER_DATA, token_page("a project list"))?;
            for project in &page.data {
                let updated = nanos(&project["updated_at"]);
                newest = newest.max(updated);
                let unchanged = since.zip(updated).is_some_and(|(s, u)| u < s);
                if !unchanged && wanted(config, project) {
                    self.project_documents(project)?;
                }
            }
            match page.next_page {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        self.projects_walked(newest);
        self.save_checkpoint()
    }

    /// The project walk's checkpoint, created on first use.
    fn projects_state(&mut self) -> &mut ProjectsCheckpoint {
        self.content_state()
            .projects
            .get_or_insert_with(Default::default)
    }

    /// After a complete walk: the marks move, old ids are forgotten.
    fn projects_walked(&mut self, newest_project: Option<Nanos>) {
        let (overlap, max) = (self.overlap_nanos(), self.config.max_recent_ids);
        let state = self.projects_state();
        state.updated_high_water = newest_project;
        state.documents_high_water = state.documents_high_water.max(state.recent.newest());
        let Some(high) = state.documents_high_water else {
            return;
        };
        let evicted = state.recent.prune(high - overlap, max);
        if evicted > 0 {
            self.health.lock().dedupe_evictions += evicted as u64;
            eprintln!(
                "claude-audit: pull: warning: more than {max} project documents inside the \
                 overlap window; forgot the {evicted} oldest (raise pull.max_recent_ids)"
            );
        }
    }

    /// Write a project's documents not yet committed, one attachment page
    /// at a time (each page's documents committed before the next).
    fn project_documents(&mut self, project: &Value) -> Result<()> {
        let id = project["id"]
            .as_str()
            .context("the project list holds a project without an id")?
            .to_owned();
        let floor = self
            .projects_state()
            .documents_high_water
            .map(|h| h - self.overlap_nanos());
        let mut token: Option<String> = None;
        loop {
            let mut params = vec![("limit".to_owned(), PAGE_LIMIT.to_owned())];
            if let Some(t) = &token {
                params.push(("page".to_owned(), t.clone()));
            }
            let request = Request::Get(format!("{PROJECTS_PATH}/{id}/attachments"), params);
            // A project deleted since it was listed has nothing left to read.
            let Some(page) =
                self.fetch_unless_gone(&request, token_page("a project's attachments"))?
            else {
                return Ok(());
            };
            let mut ndjson = Vec::new();
            let mut committed = Vec::new();
            for attachment in page.data.iter().filter(|a| a["type"] == "project_doc") {
                let doc_id = attachment["id"]
                    .as_str()
                    .context("a project attachment without an id")?;
                let created = nanos(&attachment["created_at"]);
                let older = floor.zip(created).is_some_and(|(f, c)| c < f);
                if older || self.projects_state().recent.contains(doc_id) {
                    continue;
                }
                let request =
                    Request::Get(format!("{PROJECTS_PATH}/documents/{doc_id}"), Vec::new());
                let parse = |r: &super::client::RawResponse| {
                    serde_json::from_slice::<Value>(&r.body)
                        .context("the API answered 200 with a body that is not a document")
                };
                // Deleted since listed: the feed has its deletion activity.
                let Some(document) = self.fetch_unless_gone(&request, parse)? else {
                    continue;
                };
                let record = json!({"content_event": "claude_project_document",
                                    "project": project, "document": document});
                super::append_line(&mut ndjson, &record.to_string());
                committed.push((doc_id.to_owned(), created.unwrap_or_else(time::now)));
            }
            let source = format!("compliance-api project {id} documents");
            self.write_committed(&source, &ndjson, committed.len() as u64)?;
            let recent = &mut self.projects_state().recent;
            for (doc, created) in committed {
                recent.insert(doc, created);
            }
            self.save_checkpoint()?;
            match page.next_page {
                Some(next) => token = Some(next),
                None => return Ok(()),
            }
        }
    }
}
