//! Request parameters (query, url-encoded form, multipart form) and answer bodies.

use std::borrow::Cow;

use crate::chunks::{Assembler, Slabs, Span};
use crate::json_text::WithoutResource;
use crate::uploads::{Form, Upload};

pub(crate) const NOT_FOUND_MSG: &str =
    "The requested resource is not among the finished, queued or pending scans";
pub(crate) const INVALID_MSG: &str = "Invalid resource, check what you are submitting";
pub(crate) const QUEUED_MSG: &str = "Your resource is queued for analysis";

/// One request parameter: its name and value, percent-decoded (borrowed when nothing needed
/// decoding).
type Param<'a> = (Cow<'a, str>, Cow<'a, str>);

/// How many parameters are kept without allocating; a request with more spills the rest into
/// a `Vec`. The v2 endpoints take at most five or six.
const INLINE_PARAMS: usize = 8;

/// Every parameter of a request, query string first, then the POST body (url-encoded or
/// multipart), in the order sent: a multimap read with [`Params::first`] (the value a route
/// uses: the first occurrence wins, query before body) and [`Params::all`].
///
/// The first [`INLINE_PARAMS`] pairs live in place: parsing a request allocates nothing unless
/// a value needs decoding or the request has more parameters than that.
#[derive(Debug)]
pub(crate) struct Params<'a> {
    inline: [Param<'a>; INLINE_PARAMS],
    inline_len: usize,
    spilled: Vec<Param<'a>>,
    /// The `Content-Type` of a POST body (`""` when absent); `None` for a GET.
    content_type: Option<&'a str>,
    /// A POST whose body was empty (its parameters, if any, all in the query).
    empty_body: bool,
    upload: Option<&'a Upload>,
}

impl Default for Params<'_> {
    fn default() -> Self {
        Params {
            inline: std::array::from_fn(|_| (Cow::Borrowed(""), Cow::Borrowed(""))),
            inline_len: 0,
            spilled: Vec::new(),
            content_type: None,
            empty_body: false,
            upload: None,
        }
    }
}

impl<'a> Params<'a> {
    fn push(&mut self, name: Cow<'a, str>, value: Cow<'a, str>) {
        match self.inline.get_mut(self.inline_len) {
            Some(slot) => {
                *slot = (name, value);
                self.inline_len += 1;
            }
            None => self.spilled.push((name, value)),
        }
    }

    /// Records the `Content-Type` of the POST body the parameters are read from.
    pub(crate) fn set_content_type(&mut self, content_type: &'a str) {
        self.content_type = Some(content_type);
    }

    /// The `Content-Type` of the POST body (`""` when the header was absent); `None` when the
    /// request had no body (a GET).
    pub(crate) fn content_type(&self) -> Option<&str> {
        self.content_type
    }

    /// Records that the POST's body was empty.
    pub(crate) fn set_empty_body(&mut self) {
        self.empty_body = true;
    }

    /// Whether the request was a POST with an empty body.
    pub(crate) fn empty_body(&self) -> bool {
        self.empty_body
    }

    /// Every `(name, value)` pair, in the order sent.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.inline[..self.inline_len]
            .iter()
            .chain(&self.spilled)
            .map(|(name, value)| (&**name, &**value))
    }

    /// The first value of `name`: query before body, then in the order sent.
    pub(crate) fn first(&self, name: &str) -> Option<&str> {
        self.all(name).next()
    }

    /// Every value of `name`, in the order sent.
    pub(crate) fn all<'s, 'n>(
        &'s self,
        name: &'n str,
    ) -> impl Iterator<Item = &'s str> + use<'s, 'n, 'a> {
        self.iter()
            .filter(move |&(n, _)| n == name)
            .map(|(_, value)| value)
    }

    /// Reads `a=1&b=2` (a query string or an `application/x-www-form-urlencoded` body).
    pub(crate) fn add_urlencoded(&mut self, input: &'a [u8]) {
        // memchr, not a byte loop: a batch of 25 SHA-256s makes a 1.7 KB query.
        let mut rest = input;
        while !rest.is_empty() {
            let end = memchr::memchr(b'&', rest).unwrap_or(rest.len());
            let pair = &rest[..end];
            rest = rest.get(end + 1..).unwrap_or_default();
            if pair.is_empty() {
                continue;
            }
            let (name, value) = match memchr::memchr(b'=', pair) {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            self.push(percent_decode(name), percent_decode(value));
        }
    }

    /// Adds the fields of a multipart form, and its uploaded file.
    pub(crate) fn add_form(&mut self, form: &'a Form<'_>) {
        for (name, value) in &form.fields {
            self.push(Cow::Borrowed(name), Cow::Borrowed(value));
        }
        self.upload = form.file.as_ref();
    }

    /// The file uploaded in a multipart part named `file` (routes that take files only).
    pub(crate) fn upload(&self) -> Option<&'a Upload> {
        self.upload
    }
}

/// Whether a content type is `application/x-www-form-urlencoded` (any case, parameters such
/// as `; charset=utf-8` allowed).
pub(crate) fn is_form_urlencoded(content_type: &str) -> bool {
    content_type.split(';').next().is_some_and(|media| {
        media
            .trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    })
}

/// The boundary of a `multipart/form-data` content type, if it is one.
pub(crate) fn multipart_boundary(content_type: &str) -> Option<&str> {
    let mut parts = content_type.split(';');
    if !parts
        .next()?
        .trim()
        .eq_ignore_ascii_case("multipart/form-data")
    {
        return None;
    }
    parts.find_map(|p| {
        let (key, value) = p.trim().split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"'))
    })
}

/// `%XX` and `+` decoding; borrows when there is nothing to decode. Invalid UTF-8 is
/// replaced, invalid escapes are kept as they are.
fn percent_decode(input: &[u8]) -> Cow<'_, str> {
    let Some(first) = memchr::memchr2(b'%', b'+', input) else {
        return match std::str::from_utf8(input) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(input),
        };
    };
    let mut out = Vec::with_capacity(input.len());
    out.extend_from_slice(&input[..first]);
    let mut i = first;
    while i < input.len() {
        // `input[i]` is a `%` or a `+`; the plain run after it is copied whole.
        match input[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < input.len() => match (hex(input[i + 1]), hex(input[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
        let run = memchr::memchr2(b'%', b'+', &input[i..]).unwrap_or(input.len() - i);
        out.extend_from_slice(&input[i..i + run]);
        i += run;
    }
    Cow::Owned(
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A flag such as `allinfo` is on for `1` and `true` (any case); anything else is off (and
/// an absent one too, for the caller).
pub(crate) fn is_on(value: &str) -> bool {
    let value = value.trim();
    value == "1" || value.eq_ignore_ascii_case("true")
}

/// The resources of a `resource` parameter: split on `,`, each trimmed, empty ones dropped.
pub(crate) fn split_resources(resource: &str) -> Vec<&str> {
    resource
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .collect()
}

/// Writes `s` as a JSON string.
pub(crate) fn write_json_str(out: &mut Assembler, s: &str) {
    let plain = s
        .bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b < 0x7f);
    if plain {
        out.push(b'"');
        out.extend(s.as_bytes());
        out.push(b'"');
    } else if serde_json::to_writer(out.small_mut(), s).is_err() {
        // Writing a string into a Vec cannot fail; keep the output valid regardless.
        out.extend(b"\"\"");
    }
}

/// A JSON object written member by member with the separators of the service's recorded
/// answers (`", "` and `": "`, Python's defaults), in the order the members are written.
pub(crate) struct Object<'o> {
    out: &'o mut Assembler,
    empty: bool,
}

impl<'o> Object<'o> {
    pub(crate) fn open(out: &'o mut Assembler) -> Object<'o> {
        out.push(b'{');
        Object { out, empty: true }
    }

    /// A member whose value the caller writes next (raw JSON).
    pub(crate) fn key(&mut self, key: &str) -> &mut Assembler {
        if !self.empty {
            self.out.extend(b", ");
        }
        self.empty = false;
        write_json_str(self.out, key);
        self.out.extend(b": ");
        self.out
    }

    pub(crate) fn str(&mut self, key: &str, value: &str) -> &mut Self {
        let out = self.key(key);
        write_json_str(out, value);
        self
    }

    pub(crate) fn int(&mut self, key: &str, value: i64) -> &mut Self {
        self.key(key).extend(value.to_string().as_bytes());
        self
    }

    pub(crate) fn close(self) {
        self.out.push(b'}');
    }
}

/// A JSON array written item by item with the service's separator (`", "`).
pub(crate) fn write_list<I>(
    out: &mut Assembler,
    items: impl IntoIterator<Item = I>,
    mut write_one: impl FnMut(&mut Assembler, I),
) {
    out.push(b'[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.extend(b", ");
        }
        write_one(out, item);
    }
    out.push(b']');
}

/// `{"response_code": code, "verbose_msg": message}`, the service's separators.
pub(crate) fn write_code(out: &mut Assembler, code: i64, message: &str) {
    let mut object = Object::open(out);
    object
        .int("response_code", code)
        .str("verbose_msg", message);
    object.close();
}

/// The bytes a view of a stored report takes in the slabs ([`store_members`]).
pub(crate) fn stored_len(members: &WithoutResource) -> usize {
    SPLIT_LEN + members.text.len()
}

/// The place of `resource` is kept in the 4 bytes before a view's members.
const SPLIT_LEN: usize = 4;

/// Stores a view's members in the slabs, after the place of `resource` in them (4 bytes,
/// little-endian); returns where the members are.
pub(crate) fn store_members(slabs: &mut Slabs, members: &WithoutResource) -> Span {
    slabs.reserve(stored_len(members));
    let split = u32::try_from(members.split).unwrap_or(u32::MAX);
    slabs.append(&split.to_le_bytes());
    slabs.append(&members.text)
}

/// A stored view with `resource` (`echo`, a JSON string written whole) put back where it was
/// loaded: `{` + the members before it + `resource` + the members after it + `}`.
fn write_stored_with(
    out: &mut Assembler,
    slabs: &Slabs,
    members: Span,
    write_echo: impl Fn(&mut Assembler),
) {
    let split_at = Span {
        start: members.start.saturating_sub(SPLIT_LEN as u32),
        len: SPLIT_LEN as u32,
        ..members
    };
    let split = slabs
        .get(split_at)
        .try_into()
        .map_or(0, u32::from_le_bytes)
        .min(members.len);
    out.push(b'{');
    if split > 0 {
        out.stored(
            slabs,
            Span {
                len: split,
                ..members
            },
        );
        out.extend(b", ");
    }
    out.extend(b"\"resource\": ");
    write_echo(out);
    if split < members.len {
        if split == 0 {
            out.extend(b", ");
        }
        out.stored(
            slabs,
            Span {
                start: members.start + split,
                len: members.len - split,
                ..members
            },
        );
    }
    out.push(b'}');
}

/// A found file report: its stored members with the echoed resource in its place. The echo
/// is a hash or scan_id (it was found), so it needs no escaping.
pub(crate) fn write_found(out: &mut Assembler, echo: &str, slabs: &Slabs, members: Span) {
    debug_assert!(echo.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'));
    write_stored_with(out, slabs, members, |out| {
        out.push(b'"');
        out.extend(echo.as_bytes());
        out.push(b'"');
    });
}

/// A stored report (a URL report) with `echo`, any text, as its `resource`.
pub(crate) fn write_stored(out: &mut Assembler, echo: &str, slabs: &Slabs, members: Span) {
    write_stored_with(out, slabs, members, |out| write_json_str(out, echo));
}

/// The answers of a request as the service shapes them: one item's answer alone, several in
/// an array, in request order, or shuffled when `shuffle` gives a seed (`--shuffle-batches`:
/// the service's order is not documented, so a client must match items by `resource`).
pub(crate) fn write_batch<I>(
    out: &mut Assembler,
    items: impl ExactSizeIterator<Item = I>,
    shuffle: Option<u64>,
    mut write_one: impl FnMut(&mut Assembler, I),
) {
    let many = items.len() > 1;
    if many {
        out.push(b'[');
    }
    let mut items: Vec<I> = items.collect();
    if let (Some(seed), true) = (shuffle, many) {
        shuffle_in_place(&mut items, seed);
    }
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.extend(b", ");
        }
        write_one(out, item);
    }
    if many {
        out.push(b']');
    }
}

/// A Fisher-Yates shuffle driven by SplitMix64 from `seed`: the same seed, the same order.
fn shuffle_in_place<T>(items: &mut [T], seed: u64) {
    let mut rng = crate::synthetic::SplitMix64(seed);
    for i in (1..items.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// `response_code` 0 or -2 with its message (and, when queued, the bare SHA-256 as scan_id).
pub(crate) fn write_status(
    out: &mut Assembler,
    code: i8,
    echo: &str,
    scan_id: Option<&str>,
    message: &str,
) {
    let mut object = Object::open(out);
    object
        .int("response_code", code.into())
        .str("resource", echo);
    if let Some(scan_id) = scan_id {
        object.str("scan_id", scan_id);
    }
    object.str("verbose_msg", message);
    object.close();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded_and_multipart_parameters() {
        let mut p = Params::default();
        p.add_urlencoded(b"apikey=k%20ey&resource=a%2Cb+c&allinfo&resource=second&x=%zz");
        assert_eq!(p.first("apikey"), Some("k ey"));
        assert_eq!(p.first("resource"), Some("a,b c"));
        assert_eq!(p.all("resource").collect::<Vec<_>>(), ["a,b c", "second"]);
        assert_eq!(p.first("allinfo"), Some(""));
        assert_eq!(p.first("x"), Some("%zz"));
        assert_eq!(p.first("absent"), None);
        assert_eq!(percent_decode(b"%zz%4"), "%zz%4");
        assert_eq!(percent_decode(b"%41%62"), "Ab");

        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"apikey\"\r\n\r\nkey\r\n--XyZ\r\nContent-Disposition: form-data; name=\"resource\"\r\n\r\nabc, def\r\n--XyZ--\r\n";
        let boundary = multipart_boundary("multipart/form-data; boundary=XyZ").unwrap();
        let mut reader = crate::multipart::Multipart::new(boundary).unwrap();
        let mut form = Form::new(None, 1024);
        reader.feed(body, &mut form).unwrap();
        reader.finish(&mut form).unwrap();
        let mut p = Params::default();
        p.add_form(&form);
        assert_eq!(p.first("apikey"), Some("key"));
        assert_eq!(p.first("resource"), Some("abc, def"));
        assert_eq!(
            multipart_boundary("application/x-www-form-urlencoded"),
            None
        );
    }

    #[test]
    fn parameters_past_the_inline_ones_keep_their_order() {
        let query: String = (0..INLINE_PARAMS + 5)
            .map(|i| format!("n{}={i}&", i % 3))
            .collect();
        let mut p = Params::default();
        p.add_urlencoded(query.as_bytes());
        p.add_urlencoded(b"n0=body&last=1");
        assert_eq!(p.iter().count(), INLINE_PARAMS + 7);
        let n0: Vec<&str> = p.all("n0").collect();
        assert_eq!(n0, ["0", "3", "6", "9", "12", "body"]);
        assert_eq!(p.first("n2"), Some("2"));
        assert_eq!(p.first("last"), Some("1"));
        assert_eq!(p.iter().last(), Some(("last", "1")));
    }

    #[test]
    fn resources_split_on_commas_with_or_without_spaces() {
        assert_eq!(split_resources("a,b, c ,,"), ["a", "b", "c"]);
        assert!(split_resources(" , ").is_empty());
        assert!(is_on("TRUE") && is_on(" 1 "));
        assert!(!is_on("0") && !is_on("false") && !is_on("yes") && !is_on(""));
    }

    #[test]
    fn status_answers_escape_what_they_echo() {
        let mut out = Assembler::default();
        write_status(&mut out, 0, "a\"b\u{e9}", None, INVALID_MSG);
        let body = out.finish().hold(std::sync::Arc::new(Slabs::default()));
        let v: serde_json::Value = serde_json::from_slice(&body.to_vec()).unwrap();
        assert_eq!(v["resource"], "a\"b\u{e9}");
        assert_eq!(v["response_code"], 0);
    }
}
