//! Helpers shared by the simulator contract tests: boot a simulator on 127.0.0.1:0, get an
//! Orange token, call with the right headers.

use itsm_bridge::sim::{SimHandle, SimOptions, start};
use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::Value;

pub const API_KEY: &str = "sandbox-api-key";

pub struct Sim {
    pub handle: SimHandle,
    pub http: Client,
    pub token: String,
}

impl Sim {
    pub async fn start() -> Self {
        Self::with(SimOptions::default()).await
    }

    /// A simulator on the default options as `tune` changes them.
    pub async fn tuned(tune: impl FnOnce(&mut SimOptions)) -> Self {
        let mut opts = SimOptions::default();
        tune(&mut opts);
        Self::with(opts).await
    }

    pub async fn with(opts: SimOptions) -> Self {
        let handle = start(opts).await.expect("simulator starts");
        let http = Client::new();
        let mut sim = Self {
            handle,
            http,
            token: String::new(),
        };
        sim.token = sim.fresh_token().await;
        sim
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.handle.base_url())
    }

    pub fn token_request(&self) -> RequestBuilder {
        self.http
            .post(self.url("/oauth/v3/token"))
            .basic_auth("sandbox", Some("sandbox-secret"))
            .header("Accept", "application/json")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
    }

    pub async fn fresh_token(&self) -> String {
        let resp = self.token_request().send().await.expect("token call");
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.expect("token json");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// An Orange API call with bearer and API key.
    pub fn orange(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(&self.token)
            .header("X-Api-Key", API_KEY)
    }

    pub fn itsm(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, self.url(path))
            .basic_auth("sandbox", Some("sandbox"))
            .header("Accept", "application/json")
    }

    pub async fn control(&self, path: &str, body: Value) -> Value {
        let resp = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("control call");
        assert!(
            resp.status().is_success(),
            "control {path}: {}",
            resp.status()
        );
        resp.json().await.unwrap_or(Value::Null)
    }

    /// The bodies of the requests the simulator accepted (2xx) with `method` on exactly
    /// `path`, oldest first (a body that is not JSON as `null`).
    pub fn accepted(&self, method: &str, path: &str) -> Vec<Value> {
        self.handle
            .journal(0)
            .into_iter()
            .filter(|e| e.method == method && e.path == path && (200..300).contains(&e.status))
            .map(|e| serde_json::from_str(&e.body).unwrap_or(Value::Null))
            .collect()
    }

    /// The JSON of an Orange `GET`; panics when the call or its body fails.
    pub async fn orange_get(&self, path: &str) -> Value {
        let resp = self.orange(Method::GET, path).send().await;
        resp.expect("orange GET").json().await.expect("json")
    }

    /// The status and JSON body (`null` when not JSON) of an Orange `GET`.
    pub async fn orange_read(&self, path: &str) -> (u16, Value) {
        send_json(self.orange(Method::GET, path)).await
    }

    /// The status and JSON body of an Orange call with `body` as JSON.
    pub async fn orange_send(&self, method: Method, path: &str, body: &Value) -> (u16, Value) {
        send_json(self.orange(method, path).json(body)).await
    }

    /// The response of an Orange `GET` (for its headers); panics when it is not sent.
    pub async fn orange_response(&self, path: &str) -> Response {
        send(self.orange(Method::GET, path)).await
    }

    /// The JSON of an Orange `GET`, or `None` when the call or its body failed (for
    /// `eventually`).
    pub async fn orange_json(&self, path: &str) -> Option<Value> {
        let resp = self.orange(Method::GET, path).send().await.ok()?;
        resp.json().await.ok()
    }

    /// The texts of the notes of the Orange incident `orange_id`, oldest first.
    pub async fn orange_note_texts(&self, orange_id: &str) -> Vec<String> {
        let notes = self
            .orange_get(&format!("/incident/b2b/v1/incidents/{orange_id}/notes"))
            .await;
        let notes = notes.as_array().expect("a list of notes");
        let texts = notes.iter().filter_map(|n| n["text"].as_str());
        texts.map(str::to_owned).collect()
    }

    /// The status and JSON body (`null` when not JSON) of an ITSM `GET`.
    pub async fn itsm_read(&self, path: &str) -> (u16, Value) {
        send_json(self.itsm(Method::GET, path)).await
    }

    /// The status and JSON body of an ITSM call with `body` as JSON.
    pub async fn itsm_send(&self, method: Method, path: &str, body: &Value) -> (u16, Value) {
        send_json(self.itsm(method, path).json(body)).await
    }

    /// The JSON of an ITSM `GET`, or `None` when the call or its body failed (for
    /// `eventually`).
    pub async fn itsm_get(&self, path: &str) -> Option<Value> {
        let resp = self.itsm(Method::GET, path).send().await.ok()?;
        resp.json().await.ok()
    }

    /// Creates an incident with only a short description and returns its body.
    pub async fn new_incident(&self, short_description: &str) -> Value {
        let body = serde_json::json!({ "shortDescription": short_description });
        self.create_incident(body).await
    }

    /// Creates an incident and returns its body.
    pub async fn create_incident(&self, body: Value) -> Value {
        let resp = self
            .orange(Method::POST, "/incident/b2b/v1/incidents")
            .json(&body)
            .send()
            .await
            .expect("create");
        assert_eq!(resp.status(), 201);
        resp.json().await.expect("json")
    }
}

/// Sends `req`; panics when it is not sent.
pub async fn send(req: RequestBuilder) -> Response {
    req.send().await.expect("request sent")
}

/// Sends `req`: the status and JSON body of its response.
pub async fn send_json(req: RequestBuilder) -> (u16, Value) {
    status_json(send(req).await).await
}

/// Status and JSON body of a response.
pub async fn status_json(resp: Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}

pub fn header(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
