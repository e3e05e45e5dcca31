//! `tenants_dir`: one YAML file per tenant, same schema as an entry of `tenants`, so that
//! onboarding a customer or rotating its credentials is a file change, not a restart.
//!
//! Reading is here; keeping a broken file's last good version and swapping the running
//! gateway's tenants is the reload's (`live.rs`). Files whose name starts with `.` are
//! skipped: a Kubernetes ConfigMap volume keeps its real files in `..data/` behind symlinks,
//! and editors leave swap files.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use super::{ConfigProblem, Purpose, TenantConfig, interpolate_tracked, scrub};

/// Where a config came from and every file it depends on, so a reload knows what to watch.
#[derive(Debug, Clone, Default)]
pub struct ConfigOrigin {
    /// The config file; `None` for a config parsed from text.
    pub file: Option<PathBuf>,
    /// The files its `${file:…}` placeholders (and its tenant files' ones) read.
    pub secret_files: Vec<PathBuf>,
    /// The `tenants_dir` files whose tenants are the last ones of `tenants`, in order.
    pub tenant_files: Vec<PathBuf>,
}

/// One tenant file, read and checked.
#[derive(Debug, Clone)]
pub struct TenantFile {
    pub path: PathBuf,
    /// The files its `${file:…}` placeholders read (empty when it did not interpolate).
    pub secret_files: Vec<PathBuf>,
    pub loaded: Result<TenantConfig, Vec<ConfigProblem>>,
}

/// The tenant files of `dir`, sorted by name.
pub fn tenant_file_paths(dir: &Path) -> Result<Vec<PathBuf>, ConfigProblem> {
    let rd = std::fs::read_dir(dir).map_err(|e| ConfigProblem {
        file: dir.display().to_string(),
        at: "0:0".into(),
        message: format!("tenants_dir cannot be read: {e}"),
    })?;
    let mut paths: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or(".");
            !name.starts_with('.')
                && (name.ends_with(".yaml") || name.ends_with(".yml"))
                && p.is_file()
        })
        .collect();
    paths.sort();
    Ok(paths)
}

/// Reads, interpolates (`${VAR}` from `env`, `${file:…}`), parses and checks one tenant file.
/// Problems name the file and a `line:column` or the key's path in the file.
pub fn load_tenant_file(
    path: &Path,
    env: impl Fn(&str) -> Option<String>,
    purpose: Purpose,
) -> TenantFile {
    let file = path.display().to_string();
    let problem = |at: String, message: String| ConfigProblem {
        file: file.clone(),
        at,
        message,
    };
    let mut secret_files = Vec::new();
    let loaded = (|| {
        let text = std::fs::read_to_string(path)
            .map_err(|e| vec![problem("0:0".into(), format!("cannot read: {e}"))])?;
        let filled = interpolate_tracked(&text, env).map_err(|ps| {
            ps.into_iter()
                .map(|p| problem(format!("{}:{}", p.line, p.column), p.message))
                .collect::<Vec<_>>()
        })?;
        secret_files.clone_from(&filled.files);
        let scrubber = scrub::Scrubber::new(filled.filled);
        let tenant: TenantConfig = serde_saphyr::from_str(&filled.text).map_err(|e| {
            let (at, msg) = scrub::parse_problem(&e, &filled.text, &scrubber);
            vec![problem(at, msg)]
        })?;
        let problems = tenant.problems("", purpose);
        if problems.is_empty() {
            Ok(tenant)
        } else {
            Err(problems
                .into_iter()
                .map(|(at, m)| problem(at, scrubber.scrub(&m)))
                .collect())
        }
    })();
    TenantFile {
        path: path.to_owned(),
        secret_files,
        loaded,
    }
}

/// A hash of the paths and contents of `files` (a missing file hashes as empty): what a
/// reload compares to tell whether anything it depends on changed.
pub fn fingerprint<'a>(files: impl IntoIterator<Item = &'a Path>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in files {
        f.hash(&mut h);
        std::fs::read(f).unwrap_or_default().hash(&mut h);
    }
    h.finish()
}

impl TenantConfig {
    /// A hash of everything in the tenant, secrets included (which `Debug` hides): two
    /// versions with the same fingerprint need no rebuilt client.
    pub fn fingerprint(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        format!("{self:?}").hash(&mut h);
        for s in self.secrets() {
            s.hash(&mut h);
        }
        h.finish()
    }

    /// Every secret value of the tenant, in a fixed order.
    fn secrets(&self) -> Vec<&str> {
        use super::{OutboundAuth, WebhookAuth};
        let mut out = vec![
            self.orange.client_secret.expose(),
            self.orange.api_key.expose(),
        ];
        for s in self.sources.values() {
            for a in &s.auth {
                out.push(match a {
                    WebhookAuth::HubSignature { secret } | WebhookAuth::Hmac { secret, .. } => {
                        secret.expose()
                    }
                    WebhookAuth::Basic { password, .. } => password.expose(),
                    WebhookAuth::Bearer { token } => token.expose(),
                });
            }
        }
        let outbound = [
            self.itsm.servicenow.as_ref().map(|s| &s.auth),
            self.itsm.jira.as_ref().map(|j| &j.auth),
        ];
        for a in outbound.into_iter().flatten() {
            out.push(match a {
                OutboundAuth::Basic { password, .. } => password.expose(),
                OutboundAuth::Bearer { token } => token.expose(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "id: acme\norange: { client_id: c, client_secret: s3cr3t-value, api_key: k3y-value }\nsources:\n  jira:\n    auth: [{ type: hub_signature, secret: \"${file:SECRET}\" }]\n    mapping: demo/jira-incident.yaml\n";

    #[test]
    fn a_tenant_file_reads_its_secret_file_and_hidden_files_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("s");
        std::fs::write(&secret, "webhook-secret-1\n").unwrap();
        let text = TENANT.replace("SECRET", &secret.display().to_string());
        std::fs::write(dir.path().join("acme.yaml"), &text).unwrap();
        std::fs::write(dir.path().join(".acme.yaml.swp"), "junk").unwrap();
        std::fs::write(dir.path().join("README.md"), "junk").unwrap();
        let paths = tenant_file_paths(dir.path()).unwrap();
        assert_eq!(paths, vec![dir.path().join("acme.yaml")]);
        let f = load_tenant_file(&paths[0], |_| None, Purpose::Gateway);
        let t = f.loaded.unwrap();
        assert_eq!(t.id.as_str(), "acme");
        assert_eq!(f.secret_files, vec![secret.clone()]);
        let before = t.fingerprint();
        std::fs::write(&secret, "webhook-secret-2\n").unwrap();
        let again = load_tenant_file(&paths[0], |_| None, Purpose::Gateway)
            .loaded
            .unwrap();
        assert_ne!(
            again.fingerprint(),
            before,
            "a rotated secret changes the tenant"
        );
    }

    #[test]
    fn a_broken_tenant_file_names_the_file_and_the_place_without_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("acme.yaml");
        std::fs::write(&p, "id: acme\norange: { client_id: c, client_secret: s3cr3t-value, api_key: k3y-value }\nsources: {}\nbogus: 1\n").unwrap();
        let err = load_tenant_file(&p, |_| None, Purpose::Gateway)
            .loaded
            .unwrap_err();
        assert_eq!(err[0].file, p.display().to_string());
        assert!(err[0].message.contains("bogus"), "{err:?}");
        std::fs::write(&p, "id: acme\norange: { client_id: c, client_secret: \"${S}\", api_key: k3y-value, rate_limit: { per_second: 0 } }\nsources: {}\n").unwrap();
        let err = load_tenant_file(&p, |_| Some("s3cr3t-value".into()), Purpose::Gateway)
            .loaded
            .unwrap_err();
        let at: Vec<&str> = err.iter().map(|p| p.at.as_str()).collect();
        assert_eq!(at, ["orange.rate_limit.per_second", "sources"], "{err:?}");
    }
}
