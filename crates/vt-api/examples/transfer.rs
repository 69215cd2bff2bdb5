//! One file transfer through `vt_api::Client` with its default transport (hyper), private
//! tier: what `cargo xtask bench transfer` (crates/vt-api/benches/transfer.rs) runs as "vt".
//!
//! ```text
//! transfer upload BASE_URL KEY PATH [SHA256]
//! transfer download BASE_URL KEY SHA256 OUT_PATH
//! ```
//!
//! An upload goes to `file/scan`, or through `file/scan/upload_url` for a file over 32 MB;
//! given `SHA256`, the answer must name it (the service hashed the bytes it received). A
//! download follows `file/download`'s one redirect. Nothing is printed but errors (exit
//! code 1; 2 for a usage error).

#![allow(clippy::print_stderr)] // a program: errors go to stderr

/// The allocator `vt` runs with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::error::Error;
use std::process::ExitCode;

use vt_api::{ApiKey, Client, Downloaded, Resource, Tier};

const USAGE: &str = "usage: transfer upload BASE_URL KEY PATH [SHA256]\n       \
                     transfer download BASE_URL KEY SHA256 OUT_PATH";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (url, key) = match args.as_slice() {
        ["upload", url, key, _] | ["upload", url, key, _, _] | ["download", url, key, _, _] => {
            (*url, *key)
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    // As `vt` runs: a runtime of one worker per core.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("transfer: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(transfer(url, key, &args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("transfer: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn transfer(url: &str, key: &str, args: &[&str]) -> Result<(), Box<dyn Error>> {
    let client = Client::builder(ApiKey::new(key))
        .base_url(url)
        .tier(Tier::Private)
        .build()?;
    match args {
        ["upload", _, _, path, expected @ ..] => {
            let scan = client.scan_file(path).await?;
            let Some(receipt) = scan.as_found() else {
                return Err(format!("the upload was not queued: {scan:?}").into());
            };
            if let Some(expected) = expected.first() {
                if !receipt.sha256.eq_ignore_ascii_case(expected) {
                    return Err(format!("the service received {}", receipt.sha256).into());
                }
            }
        }
        ["download", _, _, sha256, to] => {
            let hash: Resource = sha256.parse()?;
            match client.download(&vt_api::FILE_DOWNLOAD, &hash, to).await? {
                Downloaded::Saved { .. } => {}
                Downloaded::NotFound => return Err(format!("{sha256}: not found").into()),
                other => return Err(format!("{sha256}: {other:?}").into()),
            }
        }
        _ => unreachable!("checked in main"),
    }
    Ok(())
}
