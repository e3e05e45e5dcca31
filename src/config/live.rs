//! The tenants of the running gateway, reloaded without a restart: the `tenants_dir` files,
//! the config file's own `tenants`, and every `${file:…}` secret they read.
//!
//! Each look compares what the files hold (content hashes, so a Kubernetes ConfigMap or
//! Secret volume's symlink swap counts) with the last look. A tenant file that does not load
//! keeps its tenant on its last good version, and the refusal is shown
//! (`GET /admin/v1/reload`) and logged once; a config file that does not load keeps every
//! inline tenant as it was. Settings other than the tenants are read at startup only.
//!
//! A new [`Config`] snapshot (startup settings, current tenants) replaces the old one as a
//! whole; what holds per-tenant state (Orange and ITSM clients, the poller, the mappings, the
//! webhook routes) follows it through the callbacks `app.rs` registers, in two stages so that
//! a tenant's webhooks are routed only once its clients and mappings are in place.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;

use super::{
    Config, ConfigProblem, Purpose, TenantConfig, fingerprint, load_tenant_file, tenant_file_paths,
};
use crate::domain::{TenantId, Timestamp};

/// What started a reload, of the tenants or of the mappings (`mapping::reload`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The process started: mapping files are compiled but their golden cases are not run
    /// (as before reloads were checked; `check`, the chart's init container, runs them), and
    /// a refusal stops the start, since there is no last good version.
    Startup,
    /// The periodic look at the files (`reload_interval_secs`) found a change.
    Watch,
    /// `POST /admin/v1/reload`.
    Admin,
}

/// Who follows a reload of the tenants, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Clients and workers: before the mappings are reloaded.
    Workers,
    /// The webhook routes: after the mappings, so an added tenant is routed once it can map.
    Ingress,
}

type Follower = Box<dyn Fn(&Config) + Send + Sync>;

/// The config in force, swapped as a whole when the tenants change.
pub struct LiveConfig {
    startup: Arc<Config>,
    current: RwLock<Arc<Config>>,
    state: Mutex<State>,
    followers: Mutex<Vec<(Stage, Follower)>>,
}

struct State {
    /// The last good reading of the config file (inline tenants, `tenants_dir`).
    main: Arc<Config>,
    /// Hash of the config file and its secret files at the last look.
    main_seen: Option<u64>,
    main_refusal: Option<Refusal>,
    dir_problem: Option<String>,
    files: BTreeMap<PathBuf, FileState>,
    last: Option<TenantReport>,
}

#[derive(Default)]
struct FileState {
    /// Hash of the file and its secret files when it last loaded (none while refused, so a
    /// refused file is read again at every look: a secret file may appear).
    seen: Option<u64>,
    secret_files: Vec<PathBuf>,
    good: Option<(TenantConfig, Timestamp)>,
    refusal: Option<Refusal>,
}

/// Why a file was refused, and when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
    pub trigger: Trigger,
    pub problems: Vec<String>,
}

/// A file refused at a reload.
#[derive(Debug, Clone, Serialize)]
pub struct FileRefused {
    pub file: String,
    /// The tenant its last good version serves, if it has one.
    pub last_good: Option<TenantId>,
    pub problems: Vec<String>,
    /// Refused already at the previous look, for the same reasons (logged then).
    #[serde(skip)]
    pub repeated: bool,
}

/// What one reload of the tenants did.
#[derive(Debug, Clone, Serialize)]
pub struct TenantReport {
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
    pub trigger: Trigger,
    pub added: Vec<TenantId>,
    pub changed: Vec<TenantId>,
    pub removed: Vec<TenantId>,
    pub refused: Vec<FileRefused>,
}

impl TenantReport {
    /// Whether the tenants in force changed.
    pub fn changed_any(&self) -> bool {
        !(self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty())
    }
}

impl LiveConfig {
    pub fn new(config: Arc<Config>) -> Self {
        let mut main = (*config).clone();
        let from_files = config.origin.tenant_files.len();
        main.tenants.truncate(main.tenants.len() - from_files);
        let files = config
            .origin
            .tenant_files
            .iter()
            .zip(&config.tenants[config.tenants.len() - from_files..])
            .map(|(p, t)| {
                let good = Some((t.clone(), time::OffsetDateTime::now_utc()));
                (
                    p.clone(),
                    FileState {
                        good,
                        ..FileState::default()
                    },
                )
            })
            .collect();
        Self {
            startup: config.clone(),
            current: RwLock::new(config),
            state: Mutex::new(State {
                main: Arc::new(main),
                main_seen: None,
                main_refusal: None,
                dir_problem: None,
                files,
                last: None,
            }),
            followers: Mutex::default(),
        }
    }

    /// The config in force: startup settings, current tenants.
    pub fn current(&self) -> Arc<Config> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Calls `f` with the new config after every change of the tenants.
    pub fn follow(&self, stage: Stage, f: impl Fn(&Config) + Send + Sync + 'static) {
        let mut followers = self.followers.lock().unwrap_or_else(|e| e.into_inner());
        followers.push((stage, Box::new(f)));
    }

    /// Forgets every follower (at shutdown).
    pub fn unfollow_all(&self) {
        self.followers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Tells the followers of `stage` about the config in force.
    pub fn notify(&self, stage: Stage) {
        let config = self.current();
        let followers = self.followers.lock().unwrap_or_else(|e| e.into_inner());
        for (s, f) in followers.iter() {
            if *s == stage {
                f(&config);
            }
        }
    }

    /// Looks at the files and swaps the config in force when the tenants changed. An admin
    /// reload reads every file again, even unchanged ones.
    pub fn reload(&self, trigger: Trigger) -> TenantReport {
        let now = time::OffsetDateTime::now_utc();
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let force = trigger == Trigger::Admin;
        let mut refused = Vec::new();
        if let Some(path) = &self.startup.origin.file {
            let seen = fingerprint(files_of(path, &st.main.origin.secret_files));
            if force || st.main_seen != Some(seen) {
                match Config::load_main(path) {
                    Ok(c) => {
                        st.main = Arc::new(c);
                        st.main_refusal = None;
                    }
                    Err(e) => {
                        // The config file's tenants keep the version last read.
                        let last = &mut st.main_refusal;
                        refused.push(refuse(last, path, None, &e.0, now, trigger));
                    }
                }
                st.main_seen = Some(fingerprint(files_of(path, &st.main.origin.secret_files)));
            }
        }
        if let Some(dir) = st.main.tenants_dir.clone() {
            match tenant_file_paths(&dir) {
                Ok(paths) => {
                    st.dir_problem = None;
                    let mut files = BTreeMap::new();
                    for p in paths {
                        let prev = st.files.remove(&p).unwrap_or_default();
                        let f = look_at(&p, prev, force, now, trigger, &mut refused);
                        files.insert(p, f);
                    }
                    st.files = files;
                }
                // An unreadable folder (a volume being remounted) removes nobody.
                Err(p) => st.dir_problem = Some(p.to_string()),
            }
        } else {
            st.files.clear();
        }
        let next = self.merge(&mut st, now, trigger, &mut refused);
        let old = self.current();
        let report = diff(&old, &next, now, trigger, refused);
        if report.changed_any() {
            *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        }
        st.last = Some(report.clone());
        report
    }

    /// The startup settings with the current tenants: the config file's, then the files' in
    /// name order; a file whose tenant id is taken is refused.
    fn merge(
        &self,
        st: &mut State,
        now: Timestamp,
        trigger: Trigger,
        refused: &mut Vec<FileRefused>,
    ) -> Config {
        let mut next = (*self.startup).clone();
        next.tenants.clone_from(&st.main.tenants);
        next.tenants_dir.clone_from(&st.main.tenants_dir);
        next.origin.tenant_files.clear();
        for (p, f) in &mut st.files {
            let Some((t, _)) = &f.good else { continue };
            if let Some(other) = next.tenant_defined_at(t) {
                let problem = ConfigProblem {
                    file: p.display().to_string(),
                    at: "id".into(),
                    message: format!("tenant {} is already defined in {other}", t.id),
                };
                refused.push(refuse(&mut f.refusal, p, None, &[problem], now, trigger));
                f.seen = None;
                continue;
            }
            next.origin.tenant_files.push(p.clone());
            next.tenants.push(t.clone());
        }
        next
    }

    /// What `GET /admin/v1/reload` shows of the tenants.
    pub fn status(&self) -> serde_json::Value {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let files: Vec<_> = st
            .files
            .iter()
            .map(|(p, f)| {
                serde_json::json!({
                    "file": p.display().to_string(),
                    "tenant": f.good.as_ref().map(|(t, _)| t.id.clone()),
                    "loaded_at": f.good.as_ref().and_then(|(_, at)| rfc3339(*at)),
                    "refused": f.refusal.is_some(),
                    "last_refusal": f.refusal,
                })
            })
            .collect();
        serde_json::json!({
            "tenants": self.current().tenants.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
            "tenants_dir": st.main.tenants_dir,
            "tenants_dir_problem": st.dir_problem,
            "config_file": self.startup.origin.file,
            "config_file_refusal": st.main_refusal,
            "refused": files.iter().filter(|f| f["refused"] == true).count()
                + usize::from(st.main_refusal.is_some()),
            "files": files,
            "last_reload": st.last,
        })
    }
}

fn files_of<'a>(path: &'a Path, more: &'a [PathBuf]) -> impl Iterator<Item = &'a Path> {
    std::iter::once(path).chain(more.iter().map(PathBuf::as_path))
}

/// One tenant file at one look: read again when it (or a secret file it reads) changed.
fn look_at(
    p: &Path,
    mut f: FileState,
    force: bool,
    now: Timestamp,
    trigger: Trigger,
    refused: &mut Vec<FileRefused>,
) -> FileState {
    let seen = fingerprint(files_of(p, &f.secret_files));
    if !force && f.seen == Some(seen) {
        return f;
    }
    let read = load_tenant_file(p, |k| std::env::var(k).ok(), Purpose::Gateway);
    match read.loaded {
        Ok(t) => {
            f.secret_files = read.secret_files;
            f.seen = Some(fingerprint(files_of(p, &f.secret_files)));
            f.good = Some((t, now));
            f.refusal = None;
        }
        Err(ps) => {
            let last_good = f.good.as_ref().map(|(t, _)| t.id.clone());
            refused.push(refuse(&mut f.refusal, p, last_good, &ps, now, trigger));
            f.seen = None;
        }
    }
    f
}

/// Refuses `file` for `problems`: the refusal becomes its `last` one, and what the report
/// says of it is returned, `repeated` when the last refusal named the same problems.
fn refuse(
    last: &mut Option<Refusal>,
    file: &Path,
    last_good: Option<TenantId>,
    problems: &[ConfigProblem],
    at: Timestamp,
    trigger: Trigger,
) -> FileRefused {
    let r = Refusal {
        at,
        trigger,
        problems: problems.iter().map(ToString::to_string).collect(),
    };
    let said = FileRefused {
        file: file.display().to_string(),
        last_good,
        problems: r.problems.clone(),
        repeated: last.as_ref().is_some_and(|b| b.problems == r.problems),
    };
    *last = Some(r);
    said
}

fn rfc3339(at: Timestamp) -> Option<String> {
    at.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// Tenants added, changed (any setting or secret) and removed between two configs.
fn diff(
    old: &Config,
    new: &Config,
    at: Timestamp,
    trigger: Trigger,
    refused: Vec<FileRefused>,
) -> TenantReport {
    let before: HashMap<&TenantId, u64> = old
        .tenants
        .iter()
        .map(|t| (&t.id, t.fingerprint()))
        .collect();
    let mut report = TenantReport {
        at,
        trigger,
        added: Vec::new(),
        changed: Vec::new(),
        removed: Vec::new(),
        refused,
    };
    for t in &new.tenants {
        match before.get(&t.id) {
            None => report.added.push(t.id.clone()),
            Some(fp) if *fp != t.fingerprint() => report.changed.push(t.id.clone()),
            Some(_) => {}
        }
    }
    report.removed = old
        .tenants
        .iter()
        .filter(|t| new.tenant(t.id.as_str()).is_none())
        .map(|t| t.id.clone())
        .collect();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "orange: { client_id: c, client_secret: s3cr3t-value, api_key: k3y-value }\nsources:\n  jira:\n    auth: [{ type: hub_signature, secret: webhook-secret }]\n    mapping: demo/jira-incident.yaml\n";

    fn ids(c: &Config) -> Vec<&str> {
        c.tenants.iter().map(|t| t.id.as_str()).collect()
    }

    #[test]
    fn a_duplicate_tenant_file_and_a_broken_config_file_are_refused_and_nothing_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let tenants = dir.path().join("tenants");
        std::fs::create_dir(&tenants).unwrap();
        let config = dir.path().join("gw.yaml");
        let main = format!("tenants_dir: tenants\ntenants:\n  - id: acme\n{}", {
            TENANT
                .lines()
                .map(|l| format!("    {l}\n"))
                .collect::<String>()
        });
        std::fs::write(&config, &main).unwrap();
        std::fs::write(tenants.join("globex.yaml"), format!("id: globex\n{TENANT}")).unwrap();
        let live = LiveConfig::new(Arc::new(Config::load(&config).unwrap()));
        assert_eq!(ids(&live.current()), ["acme", "globex"]);

        // A second file with an id already served is refused; the first keeps serving.
        std::fs::write(tenants.join("other.yaml"), format!("id: globex\n{TENANT}")).unwrap();
        let r = live.reload(Trigger::Watch);
        assert!(!r.changed_any());
        assert_eq!(r.refused.len(), 1, "{r:?}");
        assert!(
            r.refused[0].problems[0].contains("already defined in"),
            "{r:?}"
        );

        // A broken config file keeps its inline tenants; the files still reload.
        std::fs::write(&config, "tenants_dir: tenants\ntenants: {not: a list}\n").unwrap();
        std::fs::remove_file(tenants.join("other.yaml")).unwrap();
        std::fs::remove_file(tenants.join("globex.yaml")).unwrap();
        let r = live.reload(Trigger::Watch);
        assert_eq!(r.removed.len(), 1);
        assert_eq!(r.removed[0].as_str(), "globex");
        assert!(r.refused[0].file.ends_with("gw.yaml"), "{r:?}");
        assert_eq!(ids(&live.current()), ["acme"]);
        let again = live.reload(Trigger::Watch);
        assert!(
            again.refused.is_empty(),
            "an unchanged broken file is not re-read"
        );
        assert_eq!(live.status()["config_file_refusal"]["trigger"], "watch");
    }
}
