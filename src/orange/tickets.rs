//! Wholesale Trouble Tickets calls beyond the dispatcher's (`client.rs`): the service numbers,
//! create and comment with a body given by hand, and a search that reads every page.
//!
//! The search pages with `page`/`pageSize` and reports the page count in `X_Page_Count`
//! (paging parameters are not in the public docs: inferred, as in `probe.rs`).

use http::Method;
use serde_json::Value;

use crate::domain::{CallFailure, OrangeApi};

use super::browse::ListError;
use super::client::{Filters, OrangeClient};
use super::wire::{self, Page};

const API: OrangeApi = OrangeApi::TroubleTicket;
/// Pages a full search reads at most: a runaway guard, far above any real ticket count.
pub const SEARCH_MAX_PAGES: u32 = 1000;

impl OrangeClient {
    /// `GET /orangeServiceNumbers`: the service (LD) numbers of the account.
    pub async fn service_numbers(&self) -> Result<Page, CallFailure> {
        let url = self.url(API, &["orangeServiceNumbers"])?;
        self.list(API, url).await
    }

    /// `POST /troubleTickets`: answers `{"ticketId": {"id"}}`.
    pub async fn create_trouble_ticket(&self, body: Value) -> Result<Value, CallFailure> {
        let url = self.url(API, &["troubleTickets"])?;
        self.send_json(API, Method::POST, url, body).await
    }

    /// `PATCH /troubleTickets/{id}` with a `note` (a new comment).
    pub async fn comment_trouble_ticket(
        &self,
        id: &str,
        body: Value,
    ) -> Result<Value, CallFailure> {
        let url = self.url(API, &["troubleTickets", id])?;
        self.send_json(API, Method::PATCH, url, body).await
    }

    /// Every ticket the search `filters` match, page after page of `page_size`, until a page
    /// comes back short, the `X_Page_Count` is reached, or [`SEARCH_MAX_PAGES`].
    /// `on_page` sees each page as it arrives (the CLI prints as it reads).
    pub async fn search_all_trouble_tickets(
        &self,
        filters: &Filters,
        page_size: u32,
        mut on_page: impl FnMut(&Page) -> std::io::Result<()>,
    ) -> Result<u64, ListError> {
        let size = page_size.max(1);
        let mut seen = 0u64;
        for n in 1..=SEARCH_MAX_PAGES {
            let mut f = filters.to_vec();
            f.push(("page".into(), n.to_string()));
            f.push(("pageSize".into(), size.to_string()));
            let (page, pages) = self.search_page(&f).await?;
            on_page(&page).map_err(ListError::Output)?;
            seen += page.items.len() as u64;
            let last = (page.items.len() as u32) < size
                || pages.is_some_and(|p| u64::from(n) >= p)
                || page.total.is_some_and(|t| seen >= t);
            if last {
                return Ok(seen);
            }
        }
        Ok(seen)
    }

    /// One page of the search (`ctxid=TCKTNG&sctxid=wse` added) and its `X_Page_Count`.
    pub(super) async fn search_page(
        &self,
        filters: &Filters,
    ) -> Result<(Page, Option<u64>), CallFailure> {
        let mut all = vec![
            ("ctxid".to_owned(), "TCKTNG".to_owned()),
            ("sctxid".to_owned(), "wse".to_owned()),
        ];
        all.extend(filters.iter().cloned());
        let url = self.list_url(API, "troubleTickets", &all, None, None, None)?;
        let answer = self
            .call(API, Method::GET, url, super::transport::Payload::None)
            .await?;
        let pages = answer
            .headers
            .get(wire::X_PAGE_COUNT)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        Ok((wire::page(&answer)?, pages))
    }
}
