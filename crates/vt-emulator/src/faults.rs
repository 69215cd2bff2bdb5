//! Injected faults, drawn from a small seeded generator so that a run can be replayed.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use crate::Error;

/// What can go wrong with an answer, on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FaultKind {
    /// `500`: 500 Internal Server Error with an empty body.
    InternalError,
    /// `reset`: the connection is closed without an answer.
    Reset,
    /// `slow`: the normal answer, after a delay (5 s unless the library is told otherwise).
    Slow,
    /// `truncate`: the normal answer's headers promise the whole body, half of it is sent,
    /// then the connection is closed.
    Truncate,
    /// `204`: a spurious quota answer (204 No Content, empty body).
    Quota,
}

impl FaultKind {
    /// Every kind, in the order of their names on the command line.
    pub const ALL: [FaultKind; 5] = [
        FaultKind::InternalError,
        FaultKind::Reset,
        FaultKind::Slow,
        FaultKind::Truncate,
        FaultKind::Quota,
    ];

    /// The name used on the command line and in the stats: `500`, `reset`, `slow`, `truncate`,
    /// `204`.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::InternalError => "500",
            FaultKind::Reset => "reset",
            FaultKind::Slow => "slow",
            FaultKind::Truncate => "truncate",
            FaultKind::Quota => "204",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            FaultKind::InternalError => 0,
            FaultKind::Reset => 1,
            FaultKind::Slow => 2,
            FaultKind::Truncate => 3,
            FaultKind::Quota => 4,
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FaultKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        FaultKind::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                Error::config(format!(
                    "unknown fault kind {s:?}: expected one of 500, reset, slow, truncate, 204"
                ))
            })
    }
}

/// A fault and the probability that any one API request suffers it.
///
/// ```
/// use vt_emulator::{Fault, FaultKind};
///
/// let fault: Fault = "reset:0.25".parse()?;
/// assert_eq!(fault.kind(), FaultKind::Reset);
/// assert_eq!(fault.probability(), 0.25);
/// assert!("reset:1.5".parse::<Fault>().is_err());
/// # Ok::<(), vt_emulator::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fault {
    kind: FaultKind,
    probability: f64,
}

impl Fault {
    /// A fault with a probability between 0 and 1.
    pub fn new(kind: FaultKind, probability: f64) -> Result<Fault, Error> {
        if !(0.0..=1.0).contains(&probability) {
            return Err(Error::config(format!(
                "fault {kind}: probability {probability} is not between 0 and 1"
            )));
        }
        Ok(Fault { kind, probability })
    }

    /// The kind of fault.
    pub fn kind(&self) -> FaultKind {
        self.kind
    }

    /// The probability, between 0 and 1.
    pub fn probability(&self) -> f64 {
        self.probability
    }
}

impl FromStr for Fault {
    type Err = Error;

    /// `KIND:PROBABILITY`, as given to `--fault`.
    fn from_str(s: &str) -> Result<Self, Error> {
        let (kind, probability) = s.rsplit_once(':').ok_or_else(|| {
            Error::config(format!(
                "fault {s:?}: expected KIND:PROBABILITY, e.g. reset:0.1"
            ))
        })?;
        let probability: f64 = probability.trim().parse().map_err(|_| {
            Error::config(format!(
                "fault {s:?}: the probability {probability:?} is not a number"
            ))
        })?;
        Fault::new(kind.parse()?, probability)
    }
}

/// The configured faults and the generator; one draw per API request.
#[derive(Debug)]
pub(crate) struct FaultPlan {
    faults: Vec<Fault>,
    rng: Mutex<crate::synthetic::SplitMix64>,
}

impl FaultPlan {
    pub(crate) fn new(faults: Vec<Fault>, seed: u64) -> Result<FaultPlan, Error> {
        let total: f64 = faults.iter().map(|f| f.probability).sum();
        if total > 1.0 + 1e-9 {
            return Err(Error::config(format!(
                "the fault probabilities add up to {total}, more than 1"
            )));
        }
        Ok(FaultPlan {
            faults,
            rng: Mutex::new(crate::synthetic::SplitMix64(seed)),
        })
    }

    /// The fault for the next request, if any: one uniform draw, matched against the
    /// faults' probabilities laid end to end in the order they were given.
    pub(crate) fn draw(&self) -> Option<FaultKind> {
        if self.faults.is_empty() {
            return None;
        }
        let u = self
            .rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_f64();
        let mut edge = 0.0;
        for fault in &self.faults {
            edge += fault.probability;
            if u < edge {
                return Some(fault.kind);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_and_rejects_nonsense() {
        for kind in FaultKind::ALL {
            let fault: Fault = format!("{kind}:0.5").parse().unwrap();
            assert_eq!((fault.kind(), fault.probability()), (kind, 0.5));
        }
        for bad in [
            "500", "boom:0.1", "500:x", "500:-0.1", "500:1.01", "500:NaN",
        ] {
            assert!(bad.parse::<Fault>().is_err(), "{bad}");
        }
    }

    #[test]
    fn draws_are_reproducible_and_follow_the_probabilities() {
        let faults = vec![
            Fault::new(FaultKind::InternalError, 0.2).unwrap(),
            Fault::new(FaultKind::Reset, 0.3).unwrap(),
        ];
        let a = FaultPlan::new(faults.clone(), 7).unwrap();
        let b = FaultPlan::new(faults.clone(), 7).unwrap();
        let first: Vec<_> = (0..1000).map(|_| a.draw()).collect();
        let second: Vec<_> = (0..1000).map(|_| b.draw()).collect();
        assert_eq!(first, second);
        let count = |k| first.iter().filter(|&&d| d == k).count();
        assert!((150..250).contains(&count(Some(FaultKind::InternalError))));
        assert!((250..350).contains(&count(Some(FaultKind::Reset))));
        assert!(FaultPlan::new(faults.repeat(3), 0).is_err(), "sum over 1");
    }
}
