//! Checked reloads, one (tenant, source) mapping at a time.
//!
//! Every pass reads each mapping file the config names, compiles it and runs its golden
//! cases. A file with any problem is *refused*: the (tenant, source) entries it serves keep
//! the version they had (their last good one), while every other entry takes its own change
//! in the same pass — one tenant's broken file never holds back another tenant's fix. What
//! each entry serves and what the last attempts did is kept in [`ReloadStatus`], which
//! `GET /admin/v1/reload` shows.
//!
//! A version is the SHA-256 of the mapping file's bytes: an entry whose file compiles to the
//! same hash keeps its compiled mapping (`unchanged`), so a reload without edits swaps nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Mapping, MappingProblem, MappingSet};
use crate::config::Config;
use crate::domain::{SourceName, TenantId, Timestamp};

/// What started a reload: declared with the tenants' reload (`config::live`), which shares it.
pub use crate::config::live::Trigger;

/// What one reload did to one (tenant, source) entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReloadResult {
    /// A new version is in force.
    Applied,
    /// The file has not changed since the version in force.
    Unchanged,
    /// The file has problems; the entry keeps its last good version (if it has one).
    Refused,
}

impl ReloadResult {
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadResult::Applied => "applied",
            ReloadResult::Unchanged => "unchanged",
            ReloadResult::Refused => "refused",
        }
    }
}

/// A loaded version of a mapping file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Version {
    /// `sha256:<hex>` of the file's bytes (compare with `sha256sum`).
    pub hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub loaded_at: Timestamp,
}

/// One problem of a refused file, as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub file: String,
    /// `line:col`, or the place in the file (`golden[2] \`resolve\``, `routes[0].then[1]`).
    pub at: String,
    pub message: String,
}

impl From<&MappingProblem> for Problem {
    fn from(p: &MappingProblem) -> Self {
        Problem {
            file: p.file.clone(),
            at: p.at.clone(),
            message: p.message.clone(),
        }
    }
}

impl From<Problem> for MappingProblem {
    fn from(p: Problem) -> Self {
        MappingProblem {
            file: p.file,
            at: p.at,
            message: p.message,
        }
    }
}

/// The last attempt to reload an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
    pub trigger: Trigger,
    pub result: ReloadResult,
    /// The hash of the file as read (absent when it could not be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

/// The last time an entry's file was refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
    pub trigger: Trigger,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    pub problems: Vec<Problem>,
}

/// The state of one (tenant, source) mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryStatus {
    pub source: SourceName,
    /// The file as the config names it, relative to `mappings_dir`.
    pub file: String,
    /// The version serving now; `None` when none was ever loaded.
    pub loaded: Option<Version>,
    pub last_attempt: Option<Attempt>,
    /// Kept after a later success, so the last refusal stays explainable.
    pub last_refusal: Option<Refusal>,
}

impl EntryStatus {
    /// Whether the file on disk was refused at the last attempt (a last good version, if
    /// any, serves).
    pub fn refused(&self) -> bool {
        self.last_attempt
            .as_ref()
            .is_some_and(|a| a.result == ReloadResult::Refused)
    }
}

/// One entry's outcome in a [`ReloadReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryOutcome {
    pub tenant: TenantId,
    pub source: SourceName,
    pub file: String,
    pub result: ReloadResult,
    /// Whether a last good version keeps serving (refused entries only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_good_serves: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

/// What one reload pass did, entry by entry (tenants in config order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReloadReport {
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
    pub trigger: Trigger,
    pub entries: Vec<EntryOutcome>,
}

impl ReloadReport {
    pub fn count(&self, r: ReloadResult) -> usize {
        self.entries.iter().filter(|e| e.result == r).count()
    }

    /// Every problem of every refused entry (a file used twice is listed once).
    pub fn problems(&self) -> Vec<Problem> {
        let mut all: Vec<Problem> = Vec::new();
        for p in self.entries.iter().flat_map(|e| &e.problems) {
            if !all.contains(p) {
                all.push(p.clone());
            }
        }
        all
    }
}

/// Every entry's state, by tenant then source.
#[derive(Debug, Clone, Default)]
pub struct ReloadStatus {
    pub entries: BTreeMap<(TenantId, SourceName), EntryStatus>,
    pub last: Option<ReloadReport>,
}

/// A file compiled and checked, or why it is refused.
type Checked = Result<(Arc<Mapping>, String), (Option<String>, Vec<MappingProblem>)>;

/// Reads and compiles one file, and runs its golden cases when `golden`.
fn check_file(file: &Path, shown: &str, golden: bool) -> Checked {
    let bytes = std::fs::read(file).map_err(|e| {
        let p = MappingProblem {
            file: shown.to_owned(),
            at: "-".into(),
            message: format!("cannot read {}: {e}", file.display()),
        };
        (None, vec![p])
    })?;
    let hash = format!("sha256:{:x}", Sha256::digest(&bytes));
    let text = String::from_utf8(bytes).map_err(|e| {
        let p = MappingProblem {
            file: shown.to_owned(),
            at: "-".into(),
            message: format!("not UTF-8: {e}"),
        };
        (Some(hash.clone()), vec![p])
    })?;
    let base = file.parent().unwrap_or(Path::new("."));
    let m = Mapping::from_str(&text, shown, base).map_err(|ps| (Some(hash.clone()), ps))?;
    let failing = if golden { m.run_golden() } else { Vec::new() };
    if !failing.is_empty() {
        return Err((Some(hash), failing));
    }
    Ok((Arc::new(m), hash))
}

/// One pass over every (tenant, source) of the config against the set in force: the new set
/// (refused entries keep their `previous` mapping) and what happened to each entry.
/// `status` is updated in place.
pub fn pass(
    config: &Config,
    previous: &MappingSet,
    status: &mut ReloadStatus,
    trigger: Trigger,
    now: Timestamp,
) -> (MappingSet, ReloadReport) {
    let mut set = MappingSet::default();
    let mut entries = Vec::new();
    let mut checked: HashMap<PathBuf, Checked> = HashMap::new();
    for t in &config.tenants {
        for (name, s) in &t.sources {
            let path = config.mappings_dir.join(&s.mapping);
            let shown = s.mapping.display().to_string();
            let c = checked
                .entry(path.clone())
                .or_insert_with(|| check_file(&path, &shown, trigger != Trigger::Startup))
                .clone();
            let key = (t.id.clone(), name.clone());
            let st = status
                .entries
                .entry(key.clone())
                .or_insert_with(|| EntryStatus {
                    source: name.clone(),
                    file: shown.clone(),
                    loaded: None,
                    last_attempt: None,
                    last_refusal: None,
                });
            st.file.clone_from(&shown);
            let in_force = previous.get(&t.id, name);
            let checked = c.and_then(|(m, hash)| match s.kind_for(name) {
                Some(kind) if kind != m.kind => Err((
                    Some(hash),
                    vec![MappingProblem::kind_mismatch(
                        shown.clone(),
                        &m,
                        &t.id,
                        name,
                        kind,
                    )],
                )),
                _ => Ok((m, hash)),
            });
            let (result, hash, problems) = match checked {
                Ok((m, hash)) => {
                    let same = st.loaded.as_ref().is_some_and(|v| v.hash == hash);
                    match in_force.clone().filter(|_| same) {
                        Some(old) => {
                            set.by_source.insert(key.clone(), old);
                            (ReloadResult::Unchanged, Some(hash), Vec::new())
                        }
                        None => {
                            set.by_source.insert(key.clone(), m);
                            st.loaded = Some(Version {
                                hash: hash.clone(),
                                loaded_at: now,
                            });
                            (ReloadResult::Applied, Some(hash), Vec::new())
                        }
                    }
                }
                Err((hash, ps)) => {
                    if let Some(old) = in_force.clone() {
                        set.by_source.insert(key.clone(), old);
                    }
                    let problems: Vec<Problem> = ps.iter().map(Problem::from).collect();
                    st.last_refusal = Some(Refusal {
                        at: now,
                        trigger,
                        hash: hash.clone(),
                        problems: problems.clone(),
                    });
                    (ReloadResult::Refused, hash, problems)
                }
            };
            st.last_attempt = Some(Attempt {
                at: now,
                trigger,
                result,
                hash,
            });
            entries.push(EntryOutcome {
                tenant: t.id.clone(),
                source: name.clone(),
                file: shown,
                result,
                last_good_serves: (result == ReloadResult::Refused).then_some(in_force.is_some()),
                problems,
            });
        }
    }
    // Entries no longer in the config are forgotten.
    status
        .entries
        .retain(|k, _| entries.iter().any(|e| e.tenant == k.0 && e.source == k.1));
    let report = ReloadReport {
        at: now,
        trigger,
        entries,
    };
    status.last = Some(report.clone());
    (set, report)
}
