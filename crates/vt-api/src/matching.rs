//! Which answer of a batch belongs to which question.

use bytes::Bytes;
use vt_model::{ItemScan, Query, RawAnswer, Report};

use crate::endpoint::Matching;
use crate::Error;

/// One result per asked query, in the order asked, from the scanned items of `body`.
///
/// By echo: an item is matched by its echoed `resource`, by the query kind's case rules,
/// whatever the order of the array; an echo of a normalised form (`url/scan` answers
/// `http://example.com/` to `example.com`) goes to the first unanswered question it names. An item without one is matched by its place, only when the
/// array has one item per query and nothing in the item (its hashes, its URL) contradicts the
/// question; if something does, that query gets [`Error::MismatchedAnswer`]. A second item for
/// the same query makes it [`Error::DuplicateAnswer`] (neither is trusted); items about
/// nothing asked are ignored; a query nothing answered is [`Error::MissingAnswer`], or, when
/// the body held an item that is no answer at all, that item's decode error.
pub(crate) fn match_answers<Q: Query, T: Report>(
    matching: Matching,
    queries: &[Q],
    body: &Bytes,
    items: Vec<ItemScan>,
) -> Vec<Result<RawAnswer<T>, Error>> {
    let positional = items.len() == queries.len();
    let mut slots: Vec<Option<Result<RawAnswer<T>, Error>>> = Vec::new();
    slots.resize_with(queries.len(), || None);
    // The first item that is no answer at all (not an object, no response_code), if it could
    // not be given to a query: what the queries left without an answer are told.
    let mut unreadable: Option<Error> = None;
    for (position, item) in items.into_iter().enumerate() {
        let index = match (matching, item.resource.as_deref()) {
            (Matching::Only, _) => (position == 0 && queries.len() == 1).then_some(0),
            (Matching::ByEcho, Some(echoed)) => {
                let key = Q::echo_key(echoed);
                queries
                    .iter()
                    .position(|q| q.match_key() == key)
                    // An echo of a normalised form (a scanned URL): the first question it
                    // names that has no answer yet.
                    .or_else(|| {
                        (0..queries.len())
                            .find(|&i| slots[i].is_none() && queries[i].named_by_echo(echoed))
                    })
            }
            (Matching::ByEcho, None) if positional => Some(position),
            (Matching::ByEcho, None) => None,
        };
        let Some(index) = index else {
            if item.response_code.is_none() && unreadable.is_none() {
                unreadable = RawAnswer::<T>::from_scan(body.slice(item.span.clone()), item)
                    .err()
                    .map(Error::from);
                continue;
            }
            tracing::warn!(
                resource = item.resource.as_deref().unwrap_or("-"),
                "ignoring an answer about a resource that was not asked"
            );
            continue;
        };
        if item.resource.is_none() && queries[index].contradicted_by(&item.ids) {
            slots[index] = Some(Err(Error::MismatchedAnswer {
                detail: describe(&item),
            }));
            continue;
        }
        let answer = RawAnswer::from_scan(body.slice(item.span.clone()), item).map_err(Error::from);
        slots[index] = Some(match slots[index].take() {
            None => answer,
            Some(_) => Err(Error::DuplicateAnswer),
        });
    }
    slots
        .into_iter()
        .map(|slot| slot.unwrap_or_else(|| Err(unreadable.clone().unwrap_or(Error::MissingAnswer))))
        .collect()
}

/// What an item names, for an error message (server text, shortened).
fn describe(item: &ItemScan) -> String {
    let ids = &item.ids;
    let named = [
        ("md5", &ids.md5),
        ("sha1", &ids.sha1),
        ("sha256", &ids.sha256),
        ("scan_id", &ids.scan_id),
        ("url", &ids.url),
    ];
    named
        .iter()
        .filter_map(|(name, value)| {
            let value: String = value.as_deref()?.chars().take(80).collect();
            Some(format!("{name} {value:?}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}
