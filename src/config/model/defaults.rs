//! The defaults, in one place: every `#[serde(default = …)]` of the config tree names one.

use std::net::SocketAddr;
use std::path::PathBuf;

pub fn service_name() -> String {
    "itsm-bridge".into()
}

pub fn listen() -> SocketAddr {
    "0.0.0.0:8080".parse().expect("valid")
}
pub fn store_url() -> String {
    "sqlite://./data/itsm-bridge.db".into()
}
pub fn max_connections() -> u32 {
    8
}
pub fn max_body_bytes() -> usize {
    10 * 1024 * 1024
}
pub fn max_backlog() -> u64 {
    1_000_000
}
pub fn retry_after_secs() -> u64 {
    30
}
pub fn header_read_timeout_secs() -> u64 {
    10
}
pub fn idle_timeout_secs() -> u64 {
    60
}
pub fn body_read_timeout_secs() -> u64 {
    30
}
pub fn server_max_connections() -> usize {
    1024
}
pub fn max_body_bytes_in_flight() -> usize {
    32 * 1024 * 1024
}
pub fn mappings_dir() -> PathBuf {
    PathBuf::from("./mappings")
}
pub fn reload_interval_secs() -> u64 {
    5
}
pub fn orange_base_url() -> url::Url {
    url::Url::parse("https://api.orange.com").expect("valid")
}
pub fn token_path() -> String {
    "/oauth/v3/token".into()
}
pub fn incident_path() -> String {
    "/incident/b2b/v1".into()
}
pub fn trouble_ticket_path() -> String {
    "/troubleticket/wholesale/v1".into()
}
pub fn core_information_path() -> String {
    "/core-information/b2b/v2".into()
}
pub fn ordering_path() -> String {
    "/ordering/b2b/v3".into()
}
pub fn timeout_ms() -> u64 {
    15_000
}
pub fn token_requests_per_minute() -> u32 {
    50
}
pub fn token_refresh_margin_secs() -> u64 {
    60
}
pub fn lookup_cache_secs() -> u64 {
    600
}
pub fn concurrency() -> usize {
    64
}
pub fn lease_secs() -> u64 {
    60
}
pub fn idle_poll_ms() -> u64 {
    200
}
pub fn max_attachment_bytes() -> u64 {
    25 * 1024 * 1024
}
pub fn link_wait_secs() -> u64 {
    3600
}
pub fn yes() -> bool {
    true
}
pub fn poll_interval_secs() -> u64 {
    60
}
pub fn page_size() -> u32 {
    100
}
pub fn reread_budget() -> u32 {
    100
}
pub fn reprobe_secs() -> u64 {
    900
}
pub fn log_level() -> String {
    "info".into()
}
pub fn burst() -> u32 {
    5
}
pub fn jira_api_version() -> u8 {
    2
}
pub fn reconcile_interval_secs() -> u64 {
    300
}
pub fn reconcile_page_size() -> u32 {
    50
}
pub fn reconcile_lookback_secs() -> u64 {
    3600
}
pub fn reconcile_overlap_secs() -> u64 {
    120
}
