//! `application/x-www-form-urlencoded`, the encoding of both the POST body and the query, and
//! `multipart/form-data` for endpoints that take it.

/// The fields, form-encoded; `hint` is the length of the longest value, to size the text once.
pub(crate) fn encode(fields: &[(&str, &str)], hint: usize) -> String {
    let mut out = String::with_capacity(96 + hint + hint / 8);
    for &(name, value) in fields {
        append_pair(&mut out, name, value);
    }
    out
}

/// The fields as `multipart/form-data` text parts: the `Content-Type` (with its boundary,
/// drawn from `random` and checked to occur in no value) and the body.
pub(crate) fn multipart(fields: &[(&str, &str)], mut random: u64) -> (String, Vec<u8>) {
    let boundary = loop {
        let boundary = format!("vt-boundary-{random:016x}");
        if !fields
            .iter()
            .any(|(name, value)| name.contains(&boundary) || value.contains(&boundary))
        {
            break boundary;
        }
        random = random.rotate_left(17) ^ 0x9E37_79B9_7F4A_7C15;
    };
    let mut body = Vec::new();
    for &(name, value) in fields {
        // Names are the endpoint's own (ASCII, no quotes); values go as they are.
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(value.as_bytes());
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Appends `name=value` to `out`, with a `&` before it when `out` is not empty.
pub(crate) fn append_pair(out: &mut String, name: &str, value: &str) {
    if !out.is_empty() {
        out.push('&');
    }
    encode_into(out, name);
    out.push('=');
    encode_into(out, value);
}

/// The bytes that stand for themselves, as a table: a hash is a run of random digits and
/// letters, which a test per byte class would mispredict about every other byte.
const UNRESERVED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'*');
        b += 1;
    }
    table
};

fn encode_into(out: &mut String, text: &str) {
    // Runs of characters that stand for themselves (all of a hash) are copied whole; a run
    // is ASCII, so it starts and ends on character boundaries.
    let mut run_start = 0;
    for (at, byte) in text.bytes().enumerate() {
        if UNRESERVED[byte as usize] {
            continue;
        }
        if run_start < at {
            out.push_str(&text[run_start..at]);
        }
        if byte == b' ' {
            out.push('+');
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(HEX[(byte >> 4) as usize] as char);
            out.push(HEX[(byte & 15) as usize] as char);
        }
        run_start = at + 1;
    }
    if run_start < text.len() {
        out.push_str(&text[run_start..]);
    }
}

#[cfg(test)]
mod tests {
    use super::{append_pair, multipart};

    #[test]
    fn multipart_parts_carry_every_field_and_the_boundary_is_nowhere_else() {
        let fields = [("apikey", "k"), ("resource", "a\r\nb")];
        let (content_type, body) = multipart(&fields, 42);
        let boundary = content_type
            .strip_prefix("multipart/form-data; boundary=")
            .unwrap();
        let body = String::from_utf8(body).unwrap();
        assert_eq!(body.matches(boundary).count(), 3);
        assert!(body.contains("name=\"resource\"\r\n\r\na\r\nb\r\n"));
        assert!(body.ends_with(&format!("--{boundary}--\r\n")));
        // A value holding the first boundary drawn gets another one.
        let first = format!("vt-boundary-{:016x}", 42);
        let tricky = [("resource", first.as_str())];
        let (content_type, _) = multipart(&tricky, 42);
        assert!(!content_type.ends_with(&first));
    }

    #[test]
    fn encodes_as_browsers_do() {
        let mut out = String::new();
        append_pair(&mut out, "apikey", "a b&c=d/é");
        append_pair(&mut out, "resource", "ab12,cd34-1273894724");
        assert_eq!(
            out,
            "apikey=a+b%26c%3Dd%2F%C3%A9&resource=ab12%2Ccd34-1273894724"
        );
    }
}
