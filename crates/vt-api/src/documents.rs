//! The endpoints whose answer is a document rather than one verdict a query: a sandbox
//! report (`file/behaviour`), a day's clusters (`file/clusters`), and the pages of a search
//! (`file/search`), read as a stream of hashes. They go through the same pipeline (pacing,
//! retries, deadlines, stops) as every lookup.

use std::collections::VecDeque;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use vt_model::{Answer, Query, SearchQuery};

use crate::client::{Call, Client};
use crate::endpoint::{Endpoint, Params, FILE_SEARCH};
use crate::Error;

/// A document as the service sent it, and its typed view.
#[derive(Debug, Clone)]
pub struct Document<T> {
    bytes: Bytes,
    view: T,
}

impl<T> Document<T> {
    /// The body exactly as the service sent it (the key cut out if it was echoed).
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The typed view.
    pub fn view(&self) -> &T {
        &self.view
    }

    /// The typed view, without the bytes.
    pub fn into_view(self) -> T {
        self.view
    }
}

impl Client {
    /// Asks a document endpoint ([`FILE_BEHAVIOUR`](crate::FILE_BEHAVIOUR),
    /// [`FILE_CLUSTERS`](crate::FILE_CLUSTERS)) about one query. A body that is not the
    /// document's shape is a typed [`Error::Decode`].
    pub async fn document<Q: Query, T: DeserializeOwned>(
        &self,
        endpoint: &Endpoint<Q, T>,
        query: &Q,
        params: &Params,
    ) -> Result<Document<T>, Error> {
        let call = Call::new(endpoint.spec(), params, query.wire_text(), 1);
        self.inner
            .call(call, |body| {
                vt_model::decode::<T>(body).map(|view| Document {
                    bytes: body.clone(),
                    view,
                })
            })
            .await
    }

    /// The SHA-256s of the files matching `query` (`file/search`, private keys), page after
    /// page as they are read: stop reading to stop asking.
    ///
    /// ```no_run
    /// # async fn example(client: vt_api::Client) -> Result<(), vt_api::Error> {
    /// let query = vt_api::vt_model::SearchQuery::parse("type:peexe positives:10+").unwrap();
    /// let mut found = client.search(query);
    /// let mut first = Vec::new();
    /// while let Some(sha256) = found.next().await {
    ///     first.push(sha256?);
    ///     if first.len() == 1000 {
    ///         break;
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn search(&self, query: SearchQuery) -> Search {
        Search {
            client: self.clone(),
            query,
            offset: None,
            page: VecDeque::new(),
            done: false,
        }
    }
}

/// The hashes of a search, read a page at a time; see [`Client::search`].
#[derive(Debug)]
pub struct Search {
    client: Client,
    query: SearchQuery,
    /// Where the next page starts (none for the first).
    offset: Option<String>,
    page: VecDeque<String>,
    done: bool,
}

impl Search {
    /// The next SHA-256, asking for the next page when this one is read; `None` after the
    /// last page (or after an error, which ends the search).
    pub async fn next(&mut self) -> Option<Result<String, Error>> {
        loop {
            if let Some(hash) = self.page.pop_front() {
                return Some(Ok(hash));
            }
            if self.done {
                return None;
            }
            let params = match &self.offset {
                Some(offset) => Params::new().with("offset", offset.clone()),
                None => Params::new(),
            };
            let asked = self
                .client
                .lookup(&FILE_SEARCH, &self.query, &params)
                .await
                .and_then(|raw| raw.into_answer().map_err(Error::from));
            let page = match asked {
                Ok(Answer::Found(page)) => page,
                // Nothing (more) matches.
                Ok(Answer::NotFound(_)) => {
                    self.done = true;
                    continue;
                }
                Ok(other) => {
                    self.done = true;
                    return Some(Err(Error::Refused {
                        code: other.response_code(),
                        message: other
                            .verbose_msg()
                            .unwrap_or("the search was not run")
                            .to_owned(),
                    }));
                }
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            };
            // The last page has no offset; an offset that does not move would loop for ever.
            self.done = page.offset.is_none() || page.offset == self.offset;
            self.offset = page.offset;
            self.page.extend(page.hashes.unwrap_or_default());
        }
    }
}
