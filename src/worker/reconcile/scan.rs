//! One run's scan of each ITSM: page through the tickets updated since the run's start, hand
//! each one's unreceived events to `ItsmReconciler::ingest`, and return the new watermark.
//! Both scans page by keyset (the next page starts at the last ticket's update time; an
//! offset only within one crowded minute or second), so tickets updated during the scan
//! shift nothing unread, and a ticket read twice in one run (updated meanwhile) is examined
//! once per version.

use std::collections::HashSet;

use serde_json::Value;

use super::{
    ItsmReconciler, MAX_PAGES, PageAt, Rebuilt, SourceSync, SyncError, SyncReport, jira, servicenow,
};
use crate::domain::{SourceKind, TicketKey, Timestamp};
use crate::mapping::Mapping;
use crate::mapping::keys::{JIRA_WEBHOOK_ID, id_at};

fn updated(record: &Value) -> Option<&str> {
    record.get("sys_updated_on").and_then(Value::as_str)
}

/// Records whose journal one query asks for (33 characters each in the URL).
const JOURNAL_IDS: usize = 100;

/// Journal entries per `sys_journal_field` page.
const JOURNAL_PAGE: u32 = 500;

/// Where to read next: the keyset query of the page's last ticket, else the same query one
/// page further (a page that ends where it started), else done.
fn next_page(
    full: bool,
    next: Option<String>,
    current: &mut String,
    offset: &mut u32,
    size: u32,
) -> bool {
    match next {
        Some(n) if full && n != *current => (*current, *offset) = (n, 0),
        Some(_) if full => *offset += size,
        _ => return false,
    }
    true
}

impl ItsmReconciler {
    /// Jira: `search` by JQL; the watermark is the newest `fields.updated` read.
    pub(super) async fn scan_jira(
        &self,
        s: &SourceSync,
        committed: Option<&str>,
        now: Timestamp,
        rep: &mut SyncReport,
    ) -> Result<Option<String>, SyncError> {
        let (lookback, overlap) = s.window();
        let start = jira::start(committed, now, lookback, overlap);
        let mut mark = committed.map(str::to_owned);
        let size = s.settings.page_size.max(1);
        let (mut jql, mut at) = (start.jql.clone(), None::<PageAt>);
        let mut seen = HashSet::new();
        while rep.pages < MAX_PAGES {
            let page = self
                .jira
                .search(&s.tenant, &jql, at.as_ref(), size)
                .await
                .map_err(|e| SyncError::Read("jira search", e))?;
            rep.pages += 1;
            let last = page
                .issues
                .last()
                .and_then(|i| i.pointer("/fields/updated"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            for issue in &page.issues {
                let updated = issue.pointer("/fields/updated").and_then(Value::as_str);
                let id = issue.get("id").map(Value::to_string).unwrap_or_default();
                if !seen.insert((id, updated.map(str::to_owned))) {
                    continue;
                }
                rep.issues += 1;
                self.repair_jira(s, issue, start.from, now, rep).await?;
                if let Some(u) = updated
                    && jira::is_later(u, mark.as_deref())
                {
                    mark = Some(u.to_owned());
                }
            }
            // There is more: the keyset query of the page's last issue when it starts later
            // than this one, else this query's next page (offset or token).
            let Some(following) = page.next else {
                break;
            };
            match last.as_deref().and_then(jira::continue_from) {
                Some(n) if n != jql => (jql, at) = (n, None),
                _ => at = Some(following),
            }
        }
        Ok(mark)
    }

    /// Ingests what one issue's missed webhooks would have carried.
    async fn repair_jira(
        &self,
        s: &SourceSync,
        issue: &Value,
        from: Timestamp,
        now: Timestamp,
        rep: &mut SyncReport,
    ) -> Result<(), SyncError> {
        let Some(id) = id_at(issue, "/id") else {
            return Ok(());
        };
        let ticket = TicketKey::new(&s.tenant, &s.source, &id);
        let linked = self.store.link(&ticket).await?.is_some();
        let mut received = jira::Received::default();
        self.stored_bodies(&s.tenant, &ticket, |b| received.add(b))
            .await?;
        for syn in jira::synthesize(issue, from, &received, linked) {
            let mut rebuilt = Rebuilt::new(syn.body, &syn.delivery_id);
            rebuilt.headers = vec![(JIRA_WEBHOOK_ID.to_owned(), syn.delivery_id)];
            self.ingest(s, rebuilt, now, rep).await?;
        }
        Ok(())
    }

    /// ServiceNow: the Table API list of the mapping's way-back table by `sys_updated_on`,
    /// and each page's journal entries; the watermark is the newest `sys_updated_on` read.
    pub(super) async fn scan_servicenow(
        &self,
        s: &SourceSync,
        mapping: &Mapping,
        committed: Option<&str>,
        now: Timestamp,
        rep: &mut SyncReport,
    ) -> Result<Option<String>, SyncError> {
        debug_assert_eq!(s.kind, SourceKind::Servicenow);
        let table = mapping.way_back().table.clone();
        let (lookback, overlap) = s.window();
        let start = servicenow::start(committed, now, lookback, overlap);
        let mut mark = committed.map(str::to_owned);
        let size = s.settings.page_size.max(1);
        let (mut query, mut offset) = (start.query.clone(), 0);
        let mut seen = HashSet::new();
        while rep.pages < MAX_PAGES {
            let page = self
                .servicenow
                .list(&s.tenant, &table, &query, size, offset)
                .await
                .map_err(|e| SyncError::Read("servicenow table list", e))?;
            rep.pages += 1;
            let full = page.len() >= size as usize;
            let last = page.last().and_then(updated).map(str::to_owned);
            let fresh: Vec<&Value> = page
                .iter()
                .filter(|r| {
                    let id = id_at(r, "/sys_id").unwrap_or_default();
                    seen.insert((id, updated(r).map(str::to_owned)))
                })
                .collect();
            let ids: Vec<String> = fresh.iter().filter_map(|r| id_at(r, "/sys_id")).collect();
            let journal = self.journal(s, &table, &ids, start.from).await?;
            for record in fresh {
                rep.issues += 1;
                let Some(id) = id_at(record, "/sys_id") else {
                    continue;
                };
                let ticket = TicketKey::new(&s.tenant, &s.source, &id);
                let linked = self.store.link(&ticket).await?.is_some();
                let mut received = servicenow::Received::default();
                self.stored_bodies(&s.tenant, &ticket, |b| received.add(b))
                    .await?;
                let rebuilt =
                    servicenow::synthesize(&table, record, &journal, start.from, &received, linked);
                for r in rebuilt {
                    self.ingest(s, r, now, rep).await?;
                }
                if let Some(u) = updated(record)
                    && servicenow::is_later(u, mark.as_deref())
                {
                    mark = Some(u.to_owned());
                }
            }
            let next = last.as_deref().and_then(servicenow::continue_from);
            if !next_page(full, next, &mut query, &mut offset, size) {
                break;
            }
        }
        Ok(mark)
    }

    /// The `work_notes` / `comments` journal entries of `sys_ids` from `from` on, all pages.
    /// At most `JOURNAL_IDS` sys_ids a query, so the URL stays short whatever `page_size`.
    async fn journal(
        &self,
        s: &SourceSync,
        table: &str,
        sys_ids: &[String],
        from: Timestamp,
    ) -> Result<Vec<Value>, SyncError> {
        let mut out = Vec::new();
        for ids in sys_ids.chunks(JOURNAL_IDS) {
            let query = servicenow::journal_query(table, ids, from);
            let mut offset = 0;
            loop {
                let page = self
                    .servicenow
                    .list(&s.tenant, "sys_journal_field", &query, JOURNAL_PAGE, offset)
                    .await
                    .map_err(|e| SyncError::Read("servicenow journal list", e))?;
                let done = page.len() < JOURNAL_PAGE as usize;
                offset += JOURNAL_PAGE;
                out.extend(page);
                if done {
                    break;
                }
            }
        }
        Ok(out)
    }
}
