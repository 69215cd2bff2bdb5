//! Request parameters: the query string, then the POST body (url-encoded or multipart).

use std::borrow::Cow;

use crate::uploads::{Form, Upload};

/// One request parameter: its name and value, percent-decoded (borrowed when nothing needed
/// decoding).
type Param<'a> = (Cow<'a, str>, Cow<'a, str>);

/// How many parameters are kept without allocating; a request with more spills the rest into
/// a `Vec`. The v2 endpoints take at most five or six.
const INLINE_PARAMS: usize = 8;

/// Every parameter of a request, query string first, then the POST body (url-encoded or
/// multipart), in the order sent: a multimap read with [`Params::first`] (the value the
/// service uses: the first occurrence wins, query before body), [`Params::all`] and
/// [`Params::iter`] (every pair in order, to relay them). Made by
/// [`Received::params`](crate::Received::params), or [`Params::from_urlencoded`].
///
/// The first eight pairs live in place: parsing a request allocates nothing unless a value
/// needs decoding or the request has more parameters than that.
#[derive(Debug)]
pub struct Params<'a> {
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
    /// The parameters of `a=1&b=2` (a query string or an `application/x-www-form-urlencoded`
    /// body): `+` and `%XX` decoded, invalid UTF-8 replaced, invalid escapes kept as they are.
    pub fn from_urlencoded(input: &'a [u8]) -> Params<'a> {
        let mut params = Params::default();
        params.add_urlencoded(input);
        params
    }

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
    pub fn content_type(&self) -> Option<&str> {
        self.content_type
    }

    /// Records that the POST's body was empty.
    pub(crate) fn set_empty_body(&mut self) {
        self.empty_body = true;
    }

    /// Whether the request was a POST with an empty body.
    pub fn empty_body(&self) -> bool {
        self.empty_body
    }

    /// Every `(name, value)` pair, in the order sent.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.inline[..self.inline_len]
            .iter()
            .chain(&self.spilled)
            .map(|(name, value)| (&**name, &**value))
    }

    /// The first value of `name`: query before body, then in the order sent.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.all(name).next()
    }

    /// Every value of `name`, in the order sent.
    pub fn all<'s, 'n>(&'s self, name: &'n str) -> impl Iterator<Item = &'s str> + use<'s, 'n, 'a> {
        self.iter()
            .filter(move |&(n, _)| n == name)
            .map(|(_, value)| value)
    }

    /// Whether the flag `name` may be on for some reader: any occurrence, its name in any
    /// letter case or with spaces around it, whose value is not plainly off (empty, `0`,
    /// `false`). For a check that must hold whatever a server makes of repeats and
    /// spellings (a right a request relayed as it came needs); the service's own reading is
    /// [`is_on`] of [`Params::first`].
    pub fn may_set(&self, name: &str) -> bool {
        self.iter().any(|(n, value)| {
            let value = value.trim();
            n.trim().eq_ignore_ascii_case(name)
                && !(value.is_empty() || value == "0" || value.eq_ignore_ascii_case("false"))
        })
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
    pub(crate) fn add_form(&mut self, form: &'a Form) {
        for (name, value) in &form.fields {
            self.push(Cow::Borrowed(name), Cow::Borrowed(value));
        }
        self.upload = form.file.as_ref();
    }

    /// The file uploaded in a multipart part named `file` (on routes that take files, read
    /// with a [`Spool`](crate::Spool)).
    pub fn upload(&self) -> Option<&'a Upload> {
        self.upload
    }
}

/// Whether a content type is `application/x-www-form-urlencoded` (any case, parameters such
/// as `; charset=utf-8` allowed).
pub fn is_form_urlencoded(content_type: &str) -> bool {
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
pub fn is_on(value: &str) -> bool {
    let value = value.trim();
    value == "1" || value.eq_ignore_ascii_case("true")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multipart::Multipart;
    use crate::uploads::FormReader;

    #[test]
    fn urlencoded_and_multipart_parameters() {
        let p = Params::from_urlencoded(
            b"apikey=k%20ey&resource=a%2Cb+c&allinfo&resource=second&x=%zz",
        );
        assert_eq!(p.first("apikey"), Some("k ey"));
        assert_eq!(p.first("resource"), Some("a,b c"));
        assert_eq!(p.all("resource").collect::<Vec<_>>(), ["a,b c", "second"]);
        assert_eq!(p.first("allinfo"), Some(""));
        assert_eq!(p.first("x"), Some("%zz"));
        assert_eq!(p.first("absent"), None);
        // `allinfo` with no value is plainly off; a second spelling may be read as on.
        assert!(!p.may_set("allinfo"));
        for set in [
            &b"allinfo=0&ALLINFO=1"[..],
            b"%20allinfo%20=yes",
            b"Allinfo=true",
        ] {
            assert!(Params::from_urlencoded(set).may_set("allinfo"));
        }
        for off in [&b"allinfo=0&allinfo=false&allinfo=+"[..], b"allinfos=1"] {
            assert!(!Params::from_urlencoded(off).may_set("allinfo"));
        }
        assert_eq!(percent_decode(b"%zz%4"), "%zz%4");
        assert_eq!(percent_decode(b"%41%62"), "Ab");

        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"apikey\"\r\n\r\nkey\r\n--XyZ\r\nContent-Disposition: form-data; name=\"resource\"\r\n\r\nabc, def\r\n--XyZ--\r\n";
        let boundary = multipart_boundary("multipart/form-data; boundary=XyZ").unwrap();
        let mut reader = Multipart::new(boundary).unwrap();
        let mut form = FormReader::new(None, 1024);
        reader.feed(body, &mut form).unwrap();
        reader.finish(&mut form).unwrap();
        let form = form.finish();
        let mut p = Params::default();
        p.add_form(&form);
        assert_eq!(p.first("apikey"), Some("key"));
        assert_eq!(p.first("resource"), Some("abc, def"));
        assert!(p.upload().is_none(), "no spool: a file part is text");
        assert_eq!(
            multipart_boundary("application/x-www-form-urlencoded"),
            None
        );
        assert_eq!(
            multipart_boundary("Multipart/Form-Data; charset=x; boundary=\"q b\""),
            Some("q b")
        );
    }

    #[test]
    fn repeated_names_keep_every_value_in_order_and_empty_pairs_are_skipped() {
        let p = Params::from_urlencoded(b"&&a=1&b&a=2&&a=&c==x&");
        let pairs: Vec<(&str, &str)> = p.iter().collect();
        assert_eq!(
            pairs,
            [("a", "1"), ("b", ""), ("a", "2"), ("a", ""), ("c", "=x")]
        );
        assert_eq!(p.all("a").collect::<Vec<_>>(), ["1", "2", ""]);
        assert_eq!(p.first("c"), Some("=x"));
        assert_eq!(p.content_type(), None, "not read from a POST body");
    }

    #[test]
    fn percent_decoding_covers_names_plus_signs_case_and_bad_utf8() {
        let p =
            Params::from_urlencoded(b"%61pi%4Bey=%2b%2B+x&n%C3%A9=%C3%A9t%c3%a9&bad=%FF%FE&%=%");
        assert_eq!(p.first("apiKey"), Some("++ x"));
        assert_eq!(p.first("n\u{e9}"), Some("\u{e9}t\u{e9}"));
        assert_eq!(p.first("bad"), Some("\u{fffd}\u{fffd}"));
        assert_eq!(p.first("%"), Some("%"));
        // Nothing to decode: borrowed from the input.
        assert!(matches!(percent_decode(b"plain"), Cow::Borrowed("plain")));
        assert!(matches!(percent_decode(b"a+b"), Cow::Owned(_)));
    }

    #[test]
    fn parameters_past_the_inline_ones_keep_their_order() {
        let query: String = (0..INLINE_PARAMS + 5)
            .map(|i| format!("n{}={i}&", i % 3))
            .collect();
        let mut p = Params::from_urlencoded(query.as_bytes());
        p.add_urlencoded(b"n0=body&last=1");
        assert_eq!(p.iter().count(), INLINE_PARAMS + 7);
        let n0: Vec<&str> = p.all("n0").collect();
        assert_eq!(n0, ["0", "3", "6", "9", "12", "body"]);
        assert_eq!(p.first("n2"), Some("2"));
        assert_eq!(p.first("last"), Some("1"));
        assert_eq!(p.iter().last(), Some(("last", "1")));
    }

    #[test]
    fn flags_are_on_for_one_and_true_only() {
        assert!(is_on("TRUE") && is_on(" 1 "));
        assert!(!is_on("0") && !is_on("false") && !is_on("yes") && !is_on(""));
        assert!(is_form_urlencoded(
            "Application/X-WWW-Form-Urlencoded; charset=utf-8"
        ));
        assert!(!is_form_urlencoded("multipart/form-data; boundary=x"));
        assert!(!is_form_urlencoded(""));
    }
}
