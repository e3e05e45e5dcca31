//! Reading Orange's offset-paged collections the way the Postman guide does: one page as
//! asked (`offset`, `limit`, `sort`, equality filters), or every page until the end, and one
//! object by id. The Incident, Core Information and Ordering APIs share this paging
//! (`X-Total-Count`, `X-Result-Count`); the Wholesale search pages differently (`tickets.rs`).

use serde_json::Value;

use crate::domain::{CallFailure, OrangeApi};

pub use super::client::PageQuery;
use super::client::{Filters, OrangeClient};
use super::wire::Page;

/// Pages a full read takes at most: a runaway guard (a server that ignores `offset` would
/// otherwise answer the same full page for ever).
pub const MAX_PAGES: u32 = 10_000;

/// An offset-paged Orange collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    Incidents,
    Accounts,
    Locations,
    ServicePoints,
    ConfigurationItems,
    Requests,
    CatalogItems,
}

impl Collection {
    pub fn api(self) -> OrangeApi {
        match self {
            Self::Incidents => OrangeApi::Incident,
            Self::Accounts | Self::Locations | Self::ServicePoints | Self::ConfigurationItems => {
                OrangeApi::CoreInformation
            }
            Self::Requests | Self::CatalogItems => OrangeApi::Ordering,
        }
    }

    /// The collection's path under its API's base.
    pub fn path(self) -> &'static str {
        match self {
            Self::Incidents => "incidents",
            Self::Accounts => "accounts",
            Self::Locations => "locations",
            Self::ServicePoints => "servicePoints",
            Self::ConfigurationItems => "configurationItems",
            Self::Requests => "requests",
            Self::CatalogItems => "catalogItems",
        }
    }
}

/// Why a full read stopped.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error(transparent)]
    Orange(#[from] CallFailure),
    /// The consumer of the pages failed (a closed pipe, a full disk).
    #[error("writing the results: {0}")]
    Output(std::io::Error),
}

impl OrangeClient {
    /// One page of `collection`, exactly as asked (no parameter added).
    pub async fn list_collection(
        &self,
        collection: Collection,
        q: &PageQuery<'_>,
    ) -> Result<Page, CallFailure> {
        self.list_query(collection.api(), collection.path(), q)
            .await
    }

    /// Every item of `collection` from `offset` on, page after page of `page_size`, until
    /// `X-Total-Count` is reached, a page comes back short or empty, or [`MAX_PAGES`].
    /// `on_page` sees each page as it arrives. Answers the number of items read.
    pub async fn list_all(
        &self,
        collection: Collection,
        filters: &Filters,
        sort: Option<&str>,
        page_size: u32,
        mut on_page: impl FnMut(&Page) -> std::io::Result<()>,
    ) -> Result<u64, ListError> {
        let size = page_size.max(1);
        let mut offset = 0u32;
        let mut seen = 0u64;
        for _ in 0..MAX_PAGES {
            let q = PageQuery {
                filters,
                sort,
                offset: Some(offset),
                limit: Some(size),
            };
            let page = self.list_collection(collection, &q).await?;
            on_page(&page).map_err(ListError::Output)?;
            let n = page.items.len() as u32;
            seen += u64::from(n);
            offset = offset.saturating_add(n);
            if n < size || page.total.is_some_and(|t| u64::from(offset) >= t) {
                break;
            }
        }
        Ok(seen)
    }

    /// `GET {collection}/{id}`.
    pub async fn get_in(&self, collection: Collection, id: &str) -> Result<Value, CallFailure> {
        let api = collection.api();
        let url = self.url(api, &[collection.path(), id])?;
        self.get_json(api, url).await
    }
}
