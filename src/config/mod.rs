//! The typed configuration tree: one YAML file (plus a tenant file per customer in
//! `tenants_dir`), `${ENV}` and `${file:…}` interpolation, unknown keys rejected, defaults in
//! one place, and `validate()` returning every problem at once.
//!
//! Secrets are [`Secret`]s: they print as `[REDACTED]` and are only exposed where they are
//! used (`expose_secret()`).

mod admin;
mod inferred;
mod interpolate;
pub mod live;
mod model;
mod retention;
mod scrub;
mod tenant_files;
mod validate;

pub use scrub::redact_url;

use std::path::{Path, PathBuf};

pub use admin::{ADMIN_TOKEN_NAME, NamedToken, Role, TenantScope, check_tokens};
pub use inferred::InferredConfig;
pub use interpolate::{
    Filled, Interpolated, InterpolationProblem, interpolate, interpolate_tracked,
};
pub use model::*;
pub use retention::{Keep, RetentionConfig};
pub use tenant_files::{
    ConfigOrigin, TenantFile, fingerprint, load_tenant_file, tenant_file_paths,
};

/// The config used when `serve` runs without `--config`: a `demo` tenant whose sandbox
/// credentials are documented in the README, Orange and the ITSMs on the simulator's default
/// address.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../config/default.yaml");

/// One problem in a config file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The file (or `<embedded default>`).
    pub file: String,
    /// `line:column` for parse errors, a dotted path (`tenants[0].sources.jira.auth`) for
    /// validation errors.
    pub at: String,
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.at, self.message)
    }
}

/// Every problem found while loading a config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<ConfigProblem>);

/// What a config is loaded for. The gateway needs every tenant to receive webhooks; the
/// `orange` command-line client needs only the tenants' Orange credentials, so a client-only
/// config (tenants without `sources`) is fine for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Purpose {
    #[default]
    Gateway,
    OrangeClient,
}

impl Config {
    /// Reads, interpolates, parses and validates a config file and its `tenants_dir` files,
    /// for the gateway.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        Self::load_for(path, Purpose::Gateway)
    }

    /// [`Config::load`], validated for `purpose`.
    pub fn load_for(path: &Path, purpose: Purpose) -> Result<Config, ConfigErrors> {
        let mut config = Self::load_main_for(path, purpose)?;
        config.add_tenant_files(|k| std::env::var(k).ok(), purpose)?;
        Ok(config)
    }

    /// [`Config::load`] without the `tenants_dir` files: what a reload re-reads of the main
    /// file (it keeps a broken tenant file's last good version, which `load` cannot).
    pub fn load_main(path: &Path) -> Result<Config, ConfigErrors> {
        Self::load_main_for(path, Purpose::Gateway)
    }

    fn load_main_for(path: &Path, purpose: Purpose) -> Result<Config, ConfigErrors> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigProblem {
                file: file.clone(),
                at: "0:0".into(),
                message: format!("cannot read: {e}"),
            }])
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut config = Self::parse(&text, &file, &base, |k| std::env::var(k).ok(), purpose)?;
        config.origin.file = Some(path.to_owned());
        Ok(config)
    }

    /// The embedded default (see [`EMBEDDED_DEFAULT`]), relative to the working directory.
    pub fn embedded_default() -> Config {
        Self::from_yaml(
            EMBEDDED_DEFAULT,
            "<embedded default>",
            Path::new(""),
            |_| None,
        )
        .expect("the embedded default config is valid (tested)")
    }

    /// Parses config text and adds the `tenants_dir` files. Relative paths in it
    /// (`mappings_dir`, `tenants_dir`, the SQLite file) are taken relative to `base` (the
    /// config file's folder).
    pub fn from_yaml(
        text: &str,
        file: &str,
        base: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        Self::from_yaml_for(text, file, base, env, Purpose::Gateway)
    }

    /// [`Config::from_yaml`], validated for `purpose`.
    pub fn from_yaml_for(
        text: &str,
        file: &str,
        base: &Path,
        env: impl Fn(&str) -> Option<String>,
        purpose: Purpose,
    ) -> Result<Config, ConfigErrors> {
        let mut config = Self::parse(text, file, base, &env, purpose)?;
        config.add_tenant_files(&env, purpose)?;
        Ok(config)
    }

    /// Adds the tenants of the `tenants_dir` files; any problem in any of them (or a tenant
    /// id defined twice) fails the whole config, as at startup there is no last good version.
    fn add_tenant_files(
        &mut self,
        env: impl Fn(&str) -> Option<String>,
        purpose: Purpose,
    ) -> Result<(), ConfigErrors> {
        let Some(dir) = self.tenants_dir.clone() else {
            return Ok(());
        };
        let paths = tenant_file_paths(&dir).map_err(|p| ConfigErrors(vec![p]))?;
        let mut problems = Vec::new();
        for path in paths {
            let f = load_tenant_file(&path, &env, purpose);
            match f.loaded {
                Ok(t) => match self.tenant_defined_at(&t) {
                    Some(other) => problems.push(ConfigProblem {
                        file: path.display().to_string(),
                        at: "id".into(),
                        message: format!("tenant {} is already defined in {other}", t.id),
                    }),
                    None => {
                        self.origin.secret_files.extend(f.secret_files);
                        self.origin.tenant_files.push(path.clone());
                        self.tenants.push(t);
                    }
                },
                Err(ps) => problems.extend(ps),
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(problems))
        }
    }

    /// Where a tenant with `t`'s id is already defined, if it is.
    pub fn tenant_defined_at(&self, t: &TenantConfig) -> Option<String> {
        let i = self.tenants.iter().position(|x| x.id == t.id)?;
        let inline = self.tenants.len() - self.origin.tenant_files.len();
        Some(match i.checked_sub(inline) {
            Some(j) => self.origin.tenant_files[j].display().to_string(),
            None => format!("the config file (tenants[{i}])"),
        })
    }

    /// Parses and validates config text, without the `tenants_dir` files.
    fn parse(
        text: &str,
        file: &str,
        base: &Path,
        env: impl Fn(&str) -> Option<String>,
        purpose: Purpose,
    ) -> Result<Config, ConfigErrors> {
        let problem = |at: String, message: String| ConfigProblem {
            file: file.to_owned(),
            at,
            message,
        };
        let filled = interpolate_tracked(text, env).map_err(|ps| {
            ConfigErrors(
                ps.into_iter()
                    .map(|p| problem(format!("{}:{}", p.line, p.column), p.message))
                    .collect(),
            )
        })?;
        // Every message below is about the interpolated text: the scrubber puts the
        // placeholders back in place of what they were filled with.
        let scrubber = scrub::Scrubber::new(filled.filled);
        let mut config: Config = serde_saphyr::from_str(&filled.text).map_err(|e| {
            let (at, msg) = scrub::parse_problem(&e, &filled.text, &scrubber);
            ConfigErrors(vec![problem(at, msg)])
        })?;
        config.resolve_paths(base);
        config.origin.secret_files = filled.files;
        let problems = config.validate_for(purpose);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(
                problems
                    .into_iter()
                    .map(|(at, m)| problem(at, scrubber.scrub(&m)))
                    .collect(),
            ))
        }
    }

    fn resolve_paths(&mut self, base: &Path) {
        if base.as_os_str().is_empty() {
            return;
        }
        if self.mappings_dir.is_relative() {
            self.mappings_dir = base.join(&self.mappings_dir);
        }
        if let Some(d) = &mut self.tenants_dir
            && d.is_relative()
        {
            *d = base.join(&*d);
        }
        if let Some(rest) = self.store.url.strip_prefix("sqlite://") {
            let p = PathBuf::from(rest.split('?').next().unwrap_or(rest));
            if p.is_relative() && rest != ":memory:" && !rest.starts_with(":memory:") {
                let q = rest.find('?').map(|i| &rest[i..]).unwrap_or("");
                self.store.url = format!("sqlite://{}{q}", base.join(p).display());
            }
        }
    }

    /// The tenant with this id.
    pub fn tenant(&self, id: &str) -> Option<&TenantConfig> {
        self.tenants.iter().find(|t| t.id.as_str() == id)
    }

    /// Points every Orange and ITSM client at a simulator on `base` (sandbox mode) and sets
    /// the sandbox credentials the simulator accepts out of the box.
    pub fn point_at_simulator(&mut self, base: &url::Url) {
        self.orange.base_url = base.clone();
        for t in &mut self.tenants {
            t.orange.base_url = None;
            if let Some(sn) = &mut t.itsm.servicenow {
                sn.base_url = base.clone();
            }
            if let Some(j) = &mut t.itsm.jira {
                j.base_url = base.clone();
            }
        }
    }
}

/// Pulls `line N column M` out of a parser message, when it has one.
fn location_of(msg: &str) -> String {
    let num_after = |key: &str| {
        msg.find(key).and_then(|i| {
            msg[i + key.len()..]
                .trim_start_matches([' ', ':'])
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|d| d.parse::<usize>().ok())
        })
    };
    match (num_after("line"), num_after("column")) {
        (Some(l), Some(c)) => format!("{l}:{c}"),
        (Some(l), None) => format!("{l}:0"),
        _ => "0:0".into(),
    }
}

#[cfg(test)]
mod tests;
