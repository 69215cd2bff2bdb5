//! Durations as users write them on command lines: `90`, `500ms`, `30s`, `10m`, `12h`,
//! `7d`, or sums such as `1h30m` (the `vt` command and `vt-gateway` read them alike).

use std::time::Duration;

/// `90`, `500ms`, `30s`, `10m`, `12h`, `7d`, or sums such as `1h30m`. A bare number is seconds.
/// The error says what was expected, quoting the text.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(vt_api::parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
/// assert_eq!(vt_api::parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert!(vt_api::parse_duration("10x").is_err());
/// ```
///
/// Arithmetic is checked: a duration past what `Duration` holds is an error, not a wrap, a
/// saturation or a panic.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!("{text:?} is not a duration: expected e.g. 90, 500ms, 30s, 10m, 12h, 7d or 1h30m")
    };
    let too_long = || format!("{text:?} is too long a duration");
    let t = text.trim();
    if t.is_empty() {
        return Err(bad());
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| too_long());
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        // Only digits, so the one way to fail is a number past u64.
        let value: u64 = rest[..digits].parse().map_err(|_| too_long())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let seconds_per_unit = match unit {
            "ms" => None,
            "s" => Some(1),
            "m" | "min" => Some(60),
            "h" => Some(3600),
            "d" => Some(86_400),
            _ => return Err(bad()),
        };
        let part = match seconds_per_unit {
            None => Duration::from_millis(value),
            Some(n) => Duration::from_secs(value.checked_mul(n).ok_or_else(too_long)?),
        };
        total = total.checked_add(part).ok_or_else(too_long)?;
    }
    Ok(total)
}
