//! `orange incidents list / get / notes`: the Postman guide's use cases, scriptable. Prints
//! JSON (one incident or note per line for lists) with the tenant's credentials.

use std::process::ExitCode;

use anyhow::Context;

use crate::config::Config;
use crate::domain::TenantId;
use crate::orange::OrangeClients;

pub enum IncidentAction {
    List {
        filters: Vec<String>,
        sort: Option<String>,
        offset: Option<u32>,
        limit: Option<u32>,
        all: bool,
    },
    Get {
        id: String,
    },
    Notes {
        id: String,
    },
}

/// Page size of `--all` when no `--limit` is given.
const DEFAULT_PAGE: u32 = 50;

fn parse_filters(raw: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    raw.iter()
        .map(|f| match f.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
            _ => anyhow::bail!("--filter {f:?}: expected PATH=VALUE (e.g. priority=P1)"),
        })
        .collect()
}

fn pick_tenant(config: &Config, tenant: Option<&str>) -> anyhow::Result<TenantId> {
    match tenant {
        Some(t) => config
            .tenant(t)
            .map(|t| t.id.clone())
            .with_context(|| format!("no tenant {t:?} in the config")),
        None => match config.tenants.as_slice() {
            [only] => Ok(only.id.clone()),
            [] => anyhow::bail!("the config has no tenant"),
            _ => anyhow::bail!("the config has several tenants: choose one with --tenant"),
        },
    }
}

pub async fn orange_incidents(
    config: &Config,
    tenant: Option<&str>,
    action: IncidentAction,
) -> anyhow::Result<ExitCode> {
    let tenant = pick_tenant(config, tenant)?;
    let client = OrangeClients::from_config(config)?
        .get(&tenant)
        .with_context(|| format!("no Orange client for tenant {tenant}"))?;
    match action {
        IncidentAction::List {
            filters,
            sort,
            offset,
            limit,
            all,
        } => {
            let filters = parse_filters(&filters)?;
            let mut offset = offset.unwrap_or(0);
            let limit = limit.or(all.then_some(DEFAULT_PAGE));
            loop {
                let page = client
                    .list_incidents(&filters, sort.as_deref(), Some(offset), limit)
                    .await
                    .context("listing incidents failed")?;
                let n = page.items.len() as u32;
                for item in &page.items {
                    println!("{item}");
                }
                offset += n;
                let more = page
                    .total
                    .map_or(n > 0 && Some(n) == limit, |t| u64::from(offset) < t);
                if !all || n == 0 || !more {
                    if !all && let Some(t) = page.total {
                        eprintln!("{n} of {t} incident(s) (offset {})", offset - n);
                    }
                    break;
                }
            }
        }
        IncidentAction::Get { id } => {
            let v = client
                .get_incident(&id)
                .await
                .with_context(|| format!("getting incident {id} failed"))?;
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        IncidentAction::Notes { id } => {
            for note in client
                .list_notes(&id)
                .await
                .with_context(|| format!("listing notes of incident {id} failed"))?
            {
                println!("{note}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_must_be_path_equals_value() {
        let f = parse_filters(&["location.address.country=FR".into(), "x=a=b".into()]).unwrap();
        assert_eq!(f[0], ("location.address.country".into(), "FR".into()));
        assert_eq!(f[1], ("x".into(), "a=b".into()));
        assert!(parse_filters(&["priority".into()]).is_err());
        assert!(parse_filters(&["=P1".into()]).is_err());
    }
}
