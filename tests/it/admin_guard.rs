//! The admin API's door, on every admin route the real router has: the routes are read from
//! the router itself, so a route added later is covered without touching this file.

use std::collections::BTreeSet;
use std::path::Path;

use itsm_bridge::App;
use itsm_bridge::config::{Config, Secret};
use reqwest::Method;

use crate::sim_support::header;
use crate::support::admin::ADMIN as TOKEN;
use crate::support::routes::METHODS;
use crate::support::{TestApp, test_config_yaml};

/// The admin paths of the gateway's real router, parameters filled with a placeholder.
async fn admin_paths(config: Config) -> Vec<String> {
    let paths = router_paths(config, "/admin").await;
    for known in [
        "/admin/v1/events",
        "/admin/v1/events/x",
        "/admin/v1/links",
        "/admin/v1/reload",
        "/admin/v1/audit",
        "/admin/v1/dead-letters",
        "/admin/v1/dead-letters/replay",
        "/admin/v1/dead-letters/x/replay",
    ] {
        assert!(
            paths.iter().any(|p| p == known),
            "{known} not found among the router's routes {paths:?}"
        );
    }
    let mut paths = paths;
    // A path no route has: the door stands before routing, too.
    paths.push("/admin/v1/no-such-route".into());
    paths
}

/// The paths under `prefix` of the gateway's real router, parameters filled with a
/// placeholder (the caller asserts known routes are found).
async fn router_paths(config: Config, prefix: &str) -> Vec<String> {
    let app = App::build(config).await.expect("app builds");
    let templates = crate::support::routes::router_paths(&app);
    let paths: BTreeSet<String> = templates
        .iter()
        .filter(|p| p.starts_with(prefix))
        .map(|p| {
            p.split('/')
                .map(|seg| if seg.starts_with('{') { "x" } else { seg })
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect();
    paths.into_iter().collect()
}

/// The test config with `admin` in place of its admin section, in a folder of its own.
fn config(admin: &str) -> (Config, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let yaml =
        test_config_yaml(dir.path(), "").replace("admin:\n  token: test-admin-token\n", admin);
    let config =
        Config::from_yaml(&yaml, "test.yaml", Path::new(""), |_| None).expect("valid config");
    (config, dir)
}

/// `Authorization` values that must not open the admin API (`None`: no header at all).
fn refused_headers() -> Vec<Option<String>> {
    let mut flipped = TOKEN.to_owned();
    flipped.replace_range(0..1, "T");
    vec![
        None,
        Some(String::new()),
        Some("Bearer".into()),
        Some("Bearer ".into()),
        Some("Bearer wrong-token-of-enough-length".into()),
        Some(format!("Bearer {}", &TOKEN[..TOKEN.len() - 1])),
        Some(format!("Bearer {}", &TOKEN[..4])),
        Some(format!("Bearer {TOKEN}x")),
        Some(format!("Bearer {}", TOKEN.to_uppercase())),
        Some(format!("Bearer {flipped}")),
        Some(format!("Basic {TOKEN}")),
        Some(TOKEN.into()),
        Some(format!("Bearer{TOKEN}")),
        Some(format!("Bearer {TOKEN} x")),
        Some(format!("Bearer x {TOKEN}")),
    ]
}

async fn send(
    app: &TestApp,
    method: &Method,
    path: &str,
    auth: Option<&str>,
) -> (u16, String, String) {
    let mut req = app.client.request(method.clone(), app.url(path));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let ct = header(&resp, "content-type").unwrap_or_default();
    (status, ct, resp.text().await.unwrap_or_default())
}

#[tokio::test]
async fn every_admin_route_refuses_a_missing_empty_wrong_prefix_or_differently_cased_token() {
    let paths = admin_paths(config("admin:\n  token: test-admin-token\n").0).await;
    let app = TestApp::spawn().await;
    let refused = refused_headers();
    for path in &paths {
        for method in &METHODS {
            for auth in &refused {
                let (status, ct, body) = send(&app, method, path, auth.as_deref()).await;
                assert_eq!(
                    (status, ct.as_str()),
                    (401, "application/problem+json"),
                    "{method} {path} with {auth:?}: {body}"
                );
                assert!(body.contains("\"code\":\"unauthorized\""), "{body}");
            }
            // The right token (scheme in any case) gets past the door on the same request.
            for good in [format!("Bearer {TOKEN}"), format!("bEaReR  {TOKEN}")] {
                let (status, _, body) = send(&app, method, path, Some(&good)).await;
                assert_ne!(status, 401, "{method} {path} with the token: {body}");
            }
        }
    }
}

#[tokio::test]
async fn without_a_usable_token_every_admin_route_is_off() {
    let paths = admin_paths(config("").0).await;
    // No admin section; and an empty or short token set in code, past `validate()` (what
    // `${ADMIN_TOKEN:-}` used to give): all keep the admin API off.
    let (c, dir) = config("");
    let off = TestApp::spawn_config(c, dir).await;
    let (mut c, dir) = config("");
    c.admin.token = Some(Secret::new(""));
    let empty = TestApp::spawn_config(c, dir).await;
    let (mut c, dir) = config("");
    c.admin.token = Some(Secret::new("short-token"));
    let short = TestApp::spawn_config(c, dir).await;
    for (app, token) in [(&off, ""), (&empty, ""), (&short, "short-token")] {
        for path in &paths {
            for method in &METHODS {
                for auth in [
                    None,
                    Some("Bearer ".to_owned()),
                    Some(format!("Bearer {token}")),
                ] {
                    let (status, ct, body) = send(app, method, path, auth.as_deref()).await;
                    assert_eq!(
                        (status, ct.as_str()),
                        (404, "application/problem+json"),
                        "{method} {path} with {auth:?}: {body}"
                    );
                    assert!(body.contains("admin API is disabled"), "{body}");
                }
            }
        }
    }
}

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

#[tokio::test]
async fn every_console_page_sends_a_browser_without_a_session_to_sign_in_and_is_off_without_tokens()
{
    let paths = router_paths(config("admin:\n  token: test-admin-token\n").0, "/console").await;
    for known in [
        "/console",
        "/console/dead-letters/act",
        "/console/playground",
        "/console/audit",
    ] {
        assert!(paths.iter().any(|p| p == known), "{known} not in {paths:?}");
    }
    let app = TestApp::spawn().await;
    let (c, dir) = config("");
    let off = TestApp::spawn_config(c, dir).await;
    let client = no_redirects();
    let open = |p: &str| p == "/console/sign-in" || p.starts_with("/console/assets/");
    for path in &paths {
        for method in [Method::GET, Method::POST] {
            // Neither a made-up session nor the admin token as a bearer opens a page.
            let resp = client
                .request(method.clone(), app.url(path))
                .header(
                    "cookie",
                    "itsm_bridge_console=0123456789abcdef0123456789abcdef",
                )
                .bearer_auth(TOKEN)
                .send()
                .await
                .expect("request");
            let status = resp.status().as_u16();
            let location = header(&resp, "location").unwrap_or_default();
            if open(path) {
                assert!(status != 303, "{method} {path}: {status}");
            } else if status != 405 {
                assert_eq!(
                    (status, location.as_str()),
                    (303, "/console/sign-in"),
                    "{method} {path}"
                );
            }
            let resp = client
                .request(method.clone(), off.url(path))
                .send()
                .await
                .expect("request");
            assert_eq!(resp.status(), 404, "{method} {path} with the admin API off");
        }
    }
}
