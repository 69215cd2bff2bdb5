//! `vt cache stats|prune|clear`: what the cache file holds, and bounding it (a file of millions
//! of lookups never shrinks by itself).

use std::io::Write;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use vt_api::{Cache, CacheStats};

use crate::cli::CacheCommand;
use crate::{config, session, EXIT_OK};

pub(crate) fn run(command: &CacheCommand) -> Result<u8> {
    let path = config::cache_dir()?.join(session::CACHE_FILE);
    let mut out = std::io::stdout().lock();
    if !path.exists() {
        writeln!(out, "no cache yet ({})", path.display())?;
        return Ok(EXIT_OK);
    }
    // Stats only read: a file this user cannot write is still described.
    let cache = match command {
        CacheCommand::Stats => Cache::open_read_only(&path),
        _ => Cache::open(&path),
    }
    .with_context(|| format!("cannot open {}", path.display()))?;
    match command {
        CacheCommand::Stats => {
            let stats = cache.stats()?;
            write_stats(&mut out, &path, &stats)?;
        }
        CacheCommand::Prune { older_than } => {
            let before = SystemTime::now()
                .checked_sub(*older_than)
                .unwrap_or(SystemTime::UNIX_EPOCH);
            let held = cache.stats()?.answers;
            cache.prune(before)?;
            let stats = cache.stats()?;
            writeln!(
                out,
                "forgot {} answers fetched more than {} ago; {} answers left, the file is {}",
                held - stats.answers,
                age(*older_than),
                stats.answers,
                size(stats.file_bytes)
            )?;
        }
        CacheCommand::Clear => {
            let held = cache.stats()?.answers;
            cache.clear()?;
            let stats = cache.stats()?;
            writeln!(
                out,
                "forgot all {held} answers (the quota count is kept); the file is {}",
                size(stats.file_bytes)
            )?;
        }
    }
    Ok(EXIT_OK)
}

fn write_stats(out: &mut impl Write, path: &std::path::Path, stats: &CacheStats) -> Result<()> {
    writeln!(
        out,
        "file      {} ({})",
        path.display(),
        size(stats.file_bytes)
    )?;
    writeln!(
        out,
        "answers   {} ({} of answers; {} more under files' other hashes)",
        stats.answers,
        size(stats.answer_bytes),
        stats.copies
    )?;
    let now = SystemTime::now();
    for (name, at) in [("oldest", stats.oldest), ("newest", stats.newest)] {
        if let Some(at) = at {
            writeln!(
                out,
                "{name:<9} {} ({} ago)",
                vt_api::format_utc(at),
                age(now.duration_since(at).unwrap_or_default())
            )?;
        }
    }
    for (service, endpoint, answers) in &stats.by_endpoint {
        writeln!(out, "          {answers:>9}  {service}{endpoint}")?;
    }
    Ok(())
}

/// A size in KiB, MiB or GiB.
fn size(bytes: u64) -> String {
    let bytes = bytes as f64;
    match bytes {
        b if b >= 1024.0 * 1024.0 * 1024.0 => format!("{:.1} GiB", b / (1024.0 * 1024.0 * 1024.0)),
        b if b >= 1024.0 * 1024.0 => format!("{:.1} MiB", b / (1024.0 * 1024.0)),
        b => format!("{:.0} KiB", b / 1024.0),
    }
}

/// An age in the largest whole unit: `3 d`, `5 h`, `12 min`, `40 s`.
fn age(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        s if s >= 86_400 => format!("{} d", s / 86_400),
        s if s >= 3_600 => format!("{} h", s / 3_600),
        s if s >= 60 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}
