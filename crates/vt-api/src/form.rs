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
