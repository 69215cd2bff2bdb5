//! Which answer of a batch belongs to which question.

use bytes::Bytes;
use vt_model::{ItemScan, Query, RawAnswer, Report};

use crate::endpoint::Matching;
use crate::Error;

/// One result per asked query, in the order asked, from the items of `body`, scanned one at a
/// time: only the items given to a question are kept, so a hostile body of a million tiny
/// items costs its bytes and a count, not a million scans. `Err` when the body is not
/// well-formed JSON (every query then fails with it).
///
/// By echo: an item is matched by its echoed `resource`, by the query kind's case rules,
/// whatever the order of the array; an echo of a normalised form (`url/scan` answers
/// `http://example.com/` to `example.com`) goes to the first unanswered question it names.
/// An item without one is matched by its place, only when the array has one item per query
/// and nothing in the item (its hashes, its URL) contradicts the question; if something
/// does, that query gets [`Error::MismatchedAnswer`]. A second item for the same query makes
/// it [`Error::DuplicateAnswer`] (neither is trusted); items about nothing asked are counted
/// and said in one line; a query nothing answered is [`Error::MissingAnswer`], or, when the
/// body held an item that is no answer at all, that item's decode error.
pub(crate) fn match_answers<Q: Query, T: Report>(
    matching: Matching,
    queries: &[Q],
    body: &Bytes,
) -> Result<Vec<Result<RawAnswer<T>, Error>>, vt_model::Error> {
    let mut matched = Matched::<T>::new(queries.len());
    // Items without an echo, by place: kept only while they could still be matched by it.
    let mut by_place: Vec<(usize, ItemScan)> = Vec::new();
    let mut items = 0usize;
    for (position, item) in vt_model::scan_items(body)?.enumerate() {
        let mut item = item?;
        items += 1;
        match (matching, item.resource.as_deref()) {
            (Matching::Only, _) if position == 0 && queries.len() == 1 => {
                matched.give(0, body, item);
            }
            (Matching::Only, _) => matched.stranger(body, item),
            (Matching::ByEcho, Some(echoed)) => {
                let key = Q::echo_key(echoed);
                let index = queries
                    .iter()
                    .position(|q| q.match_key() == key)
                    // An echo of a normalised form (a scanned URL): the first question it
                    // names that has no answer yet.
                    .or_else(|| {
                        (0..queries.len()).find(|&i| {
                            matched.slots[i].is_none() && queries[i].named_by_echo(echoed)
                        })
                    });
                match index {
                    // Echoing the question does not make an item about another file or URL
                    // its answer. (Another analysis of the same file, another scan_id, may
                    // be what the service has for an echoed scan_id.)
                    Some(index) if about_something_else(&queries[index], &mut item) => {
                        matched.mismatch(index, &item)
                    }
                    Some(index) => matched.give(index, body, item),
                    None => matched.stranger(body, item),
                }
            }
            (Matching::ByEcho, None) if position < queries.len() => by_place.push((position, item)),
            (Matching::ByEcho, None) => matched.stranger(body, item),
        }
    }
    // By place only when the array has one item per question.
    let positional = items == queries.len();
    for (position, item) in by_place {
        if !positional {
            matched.stranger(body, item);
        } else if queries[position].contradicted_by(&item.ids) {
            matched.mismatch(position, &item);
        } else {
            matched.give(position, body, item);
        }
    }
    if matched.strangers > 0 {
        tracing::warn!(
            strangers = matched.strangers,
            "ignored {} answer{} about resources that were not asked",
            matched.strangers,
            if matched.strangers == 1 { "" } else { "s" }
        );
    }
    let Matched {
        slots, unreadable, ..
    } = matched;
    Ok(slots
        .into_iter()
        .map(|slot| slot.unwrap_or_else(|| Err(unreadable.clone().unwrap_or(Error::MissingAnswer))))
        .collect())
}

/// Whether an item that echoes `query` names another file or URL (its scan_id aside).
fn about_something_else<Q: Query>(query: &Q, item: &mut ItemScan) -> bool {
    let scan_id = item.ids.scan_id.take();
    let contradicted = query.contradicted_by(&item.ids);
    item.ids.scan_id = scan_id;
    contradicted
}

/// The answers given so far, and what was not given.
struct Matched<T> {
    slots: Vec<Option<Result<RawAnswer<T>, Error>>>,
    /// The first item that is no answer at all (not an object, no response_code) that could
    /// not be given to a question: what the questions left without an answer are told.
    unreadable: Option<Error>,
    /// Items about nothing asked.
    strangers: usize,
}

impl<T: Report> Matched<T> {
    fn new(questions: usize) -> Matched<T> {
        let mut slots = Vec::new();
        slots.resize_with(questions, || None);
        Matched {
            slots,
            unreadable: None,
            strangers: 0,
        }
    }

    /// `item` answers question `index`; a second answer makes it a duplicate.
    fn give(&mut self, index: usize, body: &Bytes, item: ItemScan) {
        let answer = RawAnswer::from_scan(body.slice(item.span.clone()), item).map_err(Error::from);
        self.slots[index] = Some(match self.slots[index].take() {
            None => answer,
            Some(_) => Err(Error::DuplicateAnswer),
        });
    }

    /// `item` answers no question: counted, or kept as the reason of the unanswered ones when
    /// it is no answer at all.
    /// `item` names the question at `index` but says it is about something else.
    fn mismatch(&mut self, index: usize, item: &ItemScan) {
        self.slots[index] = Some(Err(Error::MismatchedAnswer {
            detail: describe(item),
        }));
    }

    fn stranger(&mut self, body: &Bytes, item: ItemScan) {
        if item.response_code.is_none() && self.unreadable.is_none() {
            self.unreadable = RawAnswer::<T>::from_scan(body.slice(item.span.clone()), item)
                .err()
                .map(Error::from);
        } else {
            self.strangers += 1;
        }
    }
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
