//! Who is asking: the holder of `admin.token` or of a named token (`admin.tokens`), with a
//! role and the tenants it sees. The guard puts a [`Principal`] in every admin request; the
//! handlers ask it before reading or acting on a tenant's objects.
//!
//! A tenant outside the scope is answered as if it did not exist when an object is named by
//! id (404: a scoped token learns nothing of other tenants' ids), and 403 when the caller
//! names the tenant itself in a filter (it knows the name already; 403 says why).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{ADMIN_TOKEN_NAME, AdminConfig, Role, admin_token_problem};
use crate::domain::TenantId;
use crate::http::problem::Problem;

/// The holder of a token that the guard accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name (`admin` for `admin.token`): audit entries say who by it.
    pub name: String,
    pub role: Role,
    /// `None`: every tenant.
    scope: Option<Vec<TenantId>>,
}

impl Principal {
    /// A principal for every tenant (tests, and `admin.token`).
    pub fn all(name: impl Into<String>, role: Role) -> Self {
        Self {
            name: name.into(),
            role,
            scope: None,
        }
    }

    /// A principal for some tenants.
    pub fn scoped(name: impl Into<String>, role: Role, tenants: Vec<TenantId>) -> Self {
        Self {
            name: name.into(),
            role,
            scope: Some(tenants),
        }
    }

    /// Whether it sees every tenant (and so global things: reload, sign-ins in the audit).
    pub fn is_global(&self) -> bool {
        self.scope.is_none()
    }

    /// The tenants it is limited to (`None`: all).
    pub fn tenants(&self) -> Option<&[TenantId]> {
        self.scope.as_deref()
    }

    pub fn sees(&self, tenant: &TenantId) -> bool {
        self.scope.as_ref().is_none_or(|s| s.contains(tenant))
    }

    pub fn can_act(&self) -> bool {
        self.role == Role::Operator
    }

    /// `Ok` when `tenant` is in scope; 404 `what` otherwise (objects named by id).
    pub fn object_of(&self, tenant: &TenantId, what: impl Into<String>) -> Result<(), Problem> {
        if self.sees(tenant) {
            Ok(())
        } else {
            Err(Problem::not_found(what))
        }
    }

    /// 403 unless this token may act on every tenant (reload touches all of them).
    pub fn require_global(&self, action: &str) -> Result<(), Problem> {
        if self.is_global() {
            Ok(())
        } else {
            Err(Problem::forbidden(format!(
                "{action} concerns every tenant; token {:?} sees only some",
                self.name
            )))
        }
    }

    /// The tenant filters a list is read with: the one asked for (403 when out of scope),
    /// else no filter for a global token and each tenant of the scope for a scoped one —
    /// the caller merges the per-tenant answers.
    pub fn tenant_filters(
        &self,
        asked: Option<TenantId>,
    ) -> Result<Vec<Option<TenantId>>, Problem> {
        match (asked, &self.scope) {
            (Some(t), _) if self.sees(&t) => Ok(vec![Some(t)]),
            (Some(t), _) => Err(Problem::forbidden(format!(
                "token {:?} does not see tenant {t}",
                self.name
            ))),
            (None, None) => Ok(vec![None]),
            (None, Some(s)) => Ok(s.iter().cloned().map(Some).collect()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        // Only reachable behind a door that inserts it; its absence is a wiring bug, and
        // refusing is the safe answer.
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| Problem::unauthorized("no credentials"))
    }
}

/// The principal of the usable token named `name` in `admin`, as configured now (`admin` is
/// `admin.token`'s name). A console session asks this at each request, so a token removed
/// from the config, or whose role or tenants changed, ends the sessions it opened.
pub fn configured(admin: &AdminConfig, name: &str) -> Option<Principal> {
    if name == ADMIN_TOKEN_NAME {
        return admin
            .token
            .as_ref()
            .filter(|t| admin_token_problem(t.expose()).is_none())
            .map(|_| Principal::all(ADMIN_TOKEN_NAME, Role::Operator));
    }
    admin
        .tokens
        .iter()
        .find(|t| t.name.trim() == name && admin_token_problem(t.token.expose()).is_none())
        .map(|t| Principal {
            name: name.to_owned(),
            role: t.role,
            scope: t.tenant_ids(),
        })
}

/// The principal `given` is the token of, if any. Every configured token is compared, each
/// in constant time on SHA-256 digests, so neither which token matched nor how much of one
/// did shows in the time taken. Tokens too short to be accepted never match (a config built
/// in code skips `validate()`).
pub fn authenticate(admin: &AdminConfig, given: &[u8]) -> Option<Principal> {
    let digest = Sha256::digest(given);
    let matches = |token: &str| -> bool {
        let same = bool::from(digest.ct_eq(&Sha256::digest(token.as_bytes())));
        same & admin_token_problem(token).is_none()
    };
    let mut found = None;
    if let Some(t) = &admin.token
        && matches(t.expose())
    {
        found = Some(Principal::all(ADMIN_TOKEN_NAME, Role::Operator));
    }
    for named in &admin.tokens {
        if matches(named.token.expose()) && found.is_none() {
            found = Some(Principal {
                name: named.name.trim().to_owned(),
                role: named.role,
                scope: named.tenant_ids(),
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{NamedToken, Secret, TenantScope};

    fn t(s: &str) -> TenantId {
        TenantId::parse(s).unwrap()
    }

    fn admin() -> AdminConfig {
        AdminConfig {
            token: Some(Secret::new("0123456789abcdef")),
            tokens: vec![
                NamedToken {
                    name: "acme-team".into(),
                    token: Secret::new("acme-viewer-token-1"),
                    tenants: TenantScope::Only(vec!["acme".into()]),
                    role: Role::Viewer,
                },
                NamedToken {
                    name: "short".into(),
                    token: Secret::new("short"),
                    tenants: TenantScope::All,
                    role: Role::Operator,
                },
            ],
        }
    }

    #[test]
    fn each_token_gives_its_own_principal_and_short_ones_none() {
        let a = admin();
        let root = authenticate(&a, b"0123456789abcdef").unwrap();
        assert_eq!(root, Principal::all("admin", Role::Operator));
        let acme = authenticate(&a, b"acme-viewer-token-1").unwrap();
        assert_eq!(acme.name, "acme-team");
        assert!(acme.sees(&t("acme")) && !acme.sees(&t("globex")));
        assert!(!acme.can_act() && !acme.is_global());
        assert!(authenticate(&a, b"short").is_none());
        assert!(authenticate(&a, b"acme-viewer-token-").is_none());
        assert!(authenticate(&a, b"").is_none());
    }

    #[test]
    fn list_filters_follow_the_scope() {
        let acme = Principal::scoped("x", Role::Viewer, vec![t("acme"), t("b")]);
        assert_eq!(
            acme.tenant_filters(None).unwrap(),
            vec![Some(t("acme")), Some(t("b"))]
        );
        assert_eq!(
            acme.tenant_filters(Some(t("b"))).unwrap(),
            vec![Some(t("b"))]
        );
        assert_eq!(acme.tenant_filters(Some(t("c"))).unwrap_err().status, 403);
        let all = Principal::all("y", Role::Viewer);
        assert_eq!(all.tenant_filters(None).unwrap(), vec![None]);
        assert!(all.require_global("reload").is_ok());
        assert_eq!(acme.require_global("reload").unwrap_err().status, 403);
        assert_eq!(acme.object_of(&t("c"), "no event").unwrap_err().status, 404);
    }
}
