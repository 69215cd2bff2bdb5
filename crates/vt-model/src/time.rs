//! The two date shapes of v2: `"YYYY-MM-DD HH:MM:SS"` (UTC) and an engine's `"YYYYMMDD"`;
//! and unix seconds as a JSON number, whole or not ([`UnixTime`]).
//!
//! Both are parsed strictly and written back in exactly the same text, so that a report
//! re-encodes to the bytes the service sent. No calendar crate is needed for this much.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// A UTC instant with one-second precision, as in `scan_date`, `first_seen` and `last_seen`.
///
/// ```
/// use vt_model::UtcTimestamp;
///
/// let t: UtcTimestamp = "2010-05-15 03:38:44".parse()?;
/// assert_eq!(t.unix_seconds(), 1273894724);
/// assert_eq!(t.to_string(), "2010-05-15 03:38:44");
/// assert_eq!(UtcTimestamp::from_unix_seconds(1273894724), Some(t));
/// # Ok::<(), vt_model::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UtcTimestamp {
    unix_seconds: i64,
}

/// The day an engine's signatures were last updated (`"update": "20100514"`).
///
/// ```
/// use vt_model::UpdateDate;
///
/// let d: UpdateDate = "20100514".parse()?;
/// assert_eq!((d.year(), d.month(), d.day()), (2010, 5, 14));
/// assert_eq!(d.to_string(), "20100514");
/// # Ok::<(), vt_model::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UpdateDate {
    year: u16,
    month: u8,
    day: u8,
}

const TIMESTAMP_SHAPE: &str = "\"YYYY-MM-DD HH:MM:SS\" (UTC)";
const UPDATE_SHAPE: &str = "\"YYYYMMDD\"";
/// Seconds from 0000-01-01 to 9999-12-31 23:59:59 bound what the text shape can express.
const MAX_UNIX_SECONDS: i64 = 253_402_300_799;
const MIN_UNIX_SECONDS: i64 = -62_167_219_200;

impl UtcTimestamp {
    /// The instant at `unix_seconds`, if it is within years 0000 to 9999.
    pub fn from_unix_seconds(unix_seconds: i64) -> Option<UtcTimestamp> {
        (MIN_UNIX_SECONDS..=MAX_UNIX_SECONDS)
            .contains(&unix_seconds)
            .then_some(UtcTimestamp { unix_seconds })
    }

    /// Seconds since 1970-01-01 00:00:00 UTC.
    pub fn unix_seconds(self) -> i64 {
        self.unix_seconds
    }

    /// As a [`std::time::SystemTime`], where the platform can represent it.
    pub fn to_system_time(self) -> Option<std::time::SystemTime> {
        let magnitude = std::time::Duration::from_secs(self.unix_seconds.unsigned_abs());
        if self.unix_seconds >= 0 {
            std::time::UNIX_EPOCH.checked_add(magnitude)
        } else {
            std::time::UNIX_EPOCH.checked_sub(magnitude)
        }
    }

    fn parse_text(s: &str) -> Option<UtcTimestamp> {
        let b = s.as_bytes();
        if b.len() != 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b' ' {
            return None;
        }
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        let year = digits(&b[0..4])?;
        let month = digits(&b[5..7])?;
        let day = digits(&b[8..10])?;
        let hour = digits(&b[11..13])?;
        let minute = digits(&b[14..16])?;
        let second = digits(&b[17..19])?;
        if !valid_date(year, month, day) || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let days = days_from_civil(year as i64, month, day);
        Some(UtcTimestamp {
            unix_seconds: days * 86_400 + (hour * 3600 + minute * 60 + second) as i64,
        })
    }

    fn write_text(self, out: &mut [u8; 19]) {
        let days = self.unix_seconds.div_euclid(86_400);
        let secs = self.unix_seconds.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        put(&mut out[0..4], year);
        out[4] = b'-';
        put(&mut out[5..7], month);
        out[7] = b'-';
        put(&mut out[8..10], day);
        out[10] = b' ';
        put(&mut out[11..13], secs / 3600);
        out[13] = b':';
        put(&mut out[14..16], secs / 60 % 60);
        out[16] = b':';
        put(&mut out[17..19], secs % 60);
    }
}

impl UpdateDate {
    /// The date, if it exists in the calendar and the year has four digits.
    pub fn new(year: u16, month: u8, day: u8) -> Option<UpdateDate> {
        (year <= 9999 && valid_date(year as u32, month as u32, day as u32)).then_some(UpdateDate {
            year,
            month,
            day,
        })
    }

    /// The year.
    pub fn year(self) -> u16 {
        self.year
    }

    /// The month, 1 to 12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// The day of the month, 1 to 31.
    pub fn day(self) -> u8 {
        self.day
    }

    /// Midnight UTC of that day.
    pub fn start(self) -> UtcTimestamp {
        let days = days_from_civil(self.year as i64, self.month as u32, self.day as u32);
        UtcTimestamp {
            unix_seconds: days * 86_400,
        }
    }

    fn parse_text(s: &str) -> Option<UpdateDate> {
        let b = s.as_bytes();
        if b.len() != 8 {
            return None;
        }
        UpdateDate::new(
            digits(&b[0..4])? as u16,
            digits(&b[4..6])? as u8,
            digits(&b[6..8])? as u8,
        )
    }

    fn write_text(self, out: &mut [u8; 8]) {
        put(&mut out[0..4], self.year as u32);
        put(&mut out[4..6], self.month as u32);
        put(&mut out[6..8], self.day as u32);
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as u32)
    })
}

fn put(out: &mut [u8], mut value: u32) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

pub(crate) fn valid_date(year: u32, month: u32, day: u32) -> bool {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days_in_month).contains(&day)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (u32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year as u32, month, day)
}

macro_rules! text_date_impls {
    ($ty:ident, $len:literal, $what:literal, $shape:ident) => {
        impl FromStr for $ty {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self, Error> {
                $ty::parse_text(s).ok_or_else(|| Error::InvalidTimestamp {
                    what: $what,
                    input: s.to_owned(),
                    expected: $shape,
                })
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut buf = [0u8; $len];
                self.write_text(&mut buf);
                // Only ASCII digits and separators were written.
                f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($ty))
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut buf = [0u8; $len];
                self.write_text(&mut buf);
                let text = std::str::from_utf8(&buf).map_err(serde::ser::Error::custom)?;
                serializer.serialize_str(text)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct TextVisitor;
                impl serde::de::Visitor<'_> for TextVisitor {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "a {} written as {}", $what, $shape)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$ty, E> {
                        $ty::parse_text(v)
                            .ok_or_else(|| E::invalid_value(serde::de::Unexpected::Str(v), &self))
                    }
                }
                deserializer.deserialize_str(TextVisitor)
            }
        }
    };
}

text_date_impls!(UtcTimestamp, 19, "scan date", TIMESTAMP_SHAPE);
text_date_impls!(UpdateDate, 8, "update date", UPDATE_SHAPE);

/// Seconds since 1970-01-01 UTC as a JSON number, kept as the service wrote it: an integer
/// (`1562956563`) or with a fraction (`1419179455.9518`, domain `whois_timestamp` in 2014).
/// Each re-encodes in the JSON type it came in.
///
/// ```
/// use vt_model::UnixTime;
///
/// let t: UnixTime = serde_json::from_str("1419179455.9518")?;
/// assert_eq!(t.unix_seconds(), 1419179455);
/// assert_eq!(t.to_utc().unwrap().to_string(), "2014-12-21 16:30:55");
/// assert_eq!(serde_json::to_string(&t)?, "1419179455.9518");
/// assert_eq!(serde_json::to_string(&serde_json::from_str::<UnixTime>("7")?)?, "7");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnixTime {
    /// Sent as an integer.
    Whole(i64),
    /// Sent with a fraction (or an exponent).
    Fractional(f64),
}

impl UnixTime {
    /// Whole seconds, rounded down.
    pub fn unix_seconds(self) -> i64 {
        match self {
            UnixTime::Whole(seconds) => seconds,
            // `as` saturates; no timestamp the service writes is near the limits.
            UnixTime::Fractional(seconds) => seconds.floor() as i64,
        }
    }

    /// As a [`UtcTimestamp`] (whole seconds), if within years 0000 to 9999.
    pub fn to_utc(self) -> Option<UtcTimestamp> {
        UtcTimestamp::from_unix_seconds(self.unix_seconds())
    }
}

impl serde::Serialize for UnixTime {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            UnixTime::Whole(seconds) => serializer.serialize_i64(seconds),
            UnixTime::Fractional(seconds) => serializer.serialize_f64(seconds),
        }
    }
}

impl<'de> serde::Deserialize<'de> for UnixTime {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumberVisitor;
        impl serde::de::Visitor<'_> for NumberVisitor {
            type Value = UnixTime;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("unix seconds as a JSON number")
            }
            fn visit_i64<E>(self, v: i64) -> Result<UnixTime, E> {
                Ok(UnixTime::Whole(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<UnixTime, E> {
                i64::try_from(v)
                    .map(UnixTime::Whole)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
            }
            fn visit_f64<E>(self, v: f64) -> Result<UnixTime, E> {
                Ok(UnixTime::Fractional(v))
            }
        }
        deserializer.deserialize_any(NumberVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_their_text() {
        for text in [
            "2010-05-15 03:38:44",
            "1970-01-01 00:00:00",
            "1969-12-31 23:59:59",
            "2000-02-29 12:00:00",
            "0000-01-01 00:00:00",
            "9999-12-31 23:59:59",
        ] {
            let t: UtcTimestamp = text.parse().unwrap();
            assert_eq!(t.to_string(), text);
            assert_eq!(UtcTimestamp::from_unix_seconds(t.unix_seconds()), Some(t));
        }
        assert_eq!(
            "1970-01-01 00:00:01"
                .parse::<UtcTimestamp>()
                .unwrap()
                .unix_seconds(),
            1
        );
    }

    #[test]
    fn timestamps_reject_what_the_service_never_writes() {
        for text in [
            "",
            "2010-05-15",
            "2010-05-15T03:38:44",
            "2010-05-15 03:38:44Z",
            "2010-13-15 03:38:44",
            "2011-02-29 03:38:44",
            "2010-05-15 24:00:00",
            "2010-05-15 03:60:00",
            "2010-05-15 03:38:4x",
            "+010-05-15 03:38:44",
            "2010-05-15 03:38:44\u{e9}",
        ] {
            let err = text.parse::<UtcTimestamp>().unwrap_err();
            assert!(err.to_string().contains("YYYY-MM-DD HH:MM:SS"), "{err}");
        }
        assert_eq!(UtcTimestamp::from_unix_seconds(MAX_UNIX_SECONDS + 1), None);
    }

    #[test]
    fn update_dates_round_trip_and_validate() {
        let d: UpdateDate = "20100514".parse().unwrap();
        assert_eq!(d.start().to_string(), "2010-05-14 00:00:00");
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"20100514\"");
        for bad in [
            "2010051",
            "201005140",
            "20101314",
            "20100230",
            "2010-5-1",
            "abcdefgh",
        ] {
            assert!(bad.parse::<UpdateDate>().is_err(), "{bad}");
            assert!(serde_json::from_value::<UpdateDate>(bad.into()).is_err());
        }
    }
}
