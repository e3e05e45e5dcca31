//! A browser stand-in for the console over plain HTTP: signs in with a token (checking the
//! session cookie it gets), then sends pages and forms with that cookie.

use super::TestApp;

pub const FORM: &str = "application/x-www-form-urlencoded";

/// A form body, as a browser encodes it.
pub fn form(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// One session cookie; redirects shown, not followed.
pub struct Console<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
    cookie: String,
}

impl<'a> Console<'a> {
    /// Signs in with `token`: a 303 to `/console` with a strict, HttpOnly session cookie, the
    /// token neither in the cookie nor in the URL.
    pub async fn sign_in(app: &'a TestApp, token: &str) -> Console<'a> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = http
            .post(app.url("/console/sign-in"))
            .header("content-type", FORM)
            .body(form(&[("token", token)]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        assert_eq!(location, "/console");
        let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
        for part in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
            assert!(set.contains(part), "{set}");
        }
        assert!(!set.contains(token) && !location.contains(token));
        let cookie = set.split(';').next().unwrap().to_owned();
        Console { app, http, cookie }
    }

    /// A page: its status and text.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(self.app.url(path))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.text().await.unwrap())
    }

    /// A form sent with `origin` (none when `None`): the answer's status and text.
    pub async fn post(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        origin: Option<&str>,
    ) -> (u16, String) {
        let mut r = self
            .http
            .post(self.app.url(path))
            .header("cookie", &self.cookie)
            .header("content-type", FORM)
            .body(form(fields));
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.text().await.unwrap())
    }

    /// The same browser session, sent to another gateway.
    pub fn on<'b>(&self, app: &'b TestApp) -> Console<'b> {
        Console {
            app,
            http: self.http.clone(),
            cookie: self.cookie.clone(),
        }
    }

    /// The session's CSRF token, read from a page's forms.
    pub async fn csrf(&self) -> String {
        let (_, page) = self.get("/console").await;
        let at = page
            .find("name=\"csrf\" value=\"")
            .expect("a form with csrf")
            + 19;
        page[at..].split('"').next().unwrap().to_owned()
    }
}
