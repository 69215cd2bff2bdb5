//! `application/x-www-form-urlencoded`, the encoding of both the POST body and the query.

/// Appends `name=value` to `out`, with a `&` before it when `out` is not empty.
pub(crate) fn append_pair(out: &mut String, name: &str, value: &str) {
    if !out.is_empty() {
        out.push('&');
    }
    encode_into(out, name);
    out.push('=');
    encode_into(out, value);
}

fn encode_into(out: &mut String, text: &str) {
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[(byte >> 4) as usize] as char);
                out.push(HEX[(byte & 15) as usize] as char);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::append_pair;

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
