//! `cargo xtask demo`: a real lookup end to end, with no key and no network.
//!
//! Builds `vt` and `vt-emulator`, starts the emulator on a free loopback port with its bundled
//! data, runs `vt file report` against it (found, not found, a batch; table and jsonl), then a
//! URL, a domain and an IP lookup and a URL scan, then `vt file scan` of the EICAR test
//! string (looked up first, then uploaded and waited for through to its report), and stops
//! it with SIGTERM, also when something fails on the way.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::emulator::Server;

/// Any non-empty key is accepted by the emulator; it goes to `vt` through its config file,
/// never through argv.
const DEMO_KEY: &str = "demo-key";

/// The EICAR test file: every antivirus engine detects it, and it harms nothing.
const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// The lookups shown: a title and the arguments of `vt`.
const STEPS: &[(&str, &[&str])] = &[
    (
        "found: the EICAR test file, by MD5",
        &[
            "file",
            "report",
            "--format",
            "table",
            "44d88612fea8a8f36de82e1278abb02f",
        ],
    ),
    (
        "not found",
        &[
            "file",
            "report",
            "--format",
            "table",
            "00000000000000000000000000000000",
        ],
    ),
    (
        "a batch (one request of 4 resources), any case, in input order",
        &[
            "file",
            "report",
            "--format",
            "table",
            "99017f6eebbac24f351415dd410d522d",
            "275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F",
            "00000000000000000000000000000000",
            "e478506a219d0f674ea2d03077e80ca4ca549a37792bc4fa686d3a756d3b9fcc",
        ],
    ),
    (
        "the same batch as JSON Lines (the default when piped), now from the cache",
        &[
            "file",
            "report",
            "--format",
            "jsonl",
            "99017f6eebbac24f351415dd410d522d",
            "275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F",
            "00000000000000000000000000000000",
            "e478506a219d0f674ea2d03077e80ca4ca549a37792bc4fa686d3a756d3b9fcc",
        ],
    ),
    (
        "CSV, for spreadsheets",
        &[
            "file",
            "report",
            "--format",
            "csv",
            "--offline",
            "44d88612fea8a8f36de82e1278abb02f",
            "99017f6eebbac24f351415dd410d522d",
        ],
    ),
    (
        "URLs (one request, joined by newlines: URLs may hold commas)",
        &[
            "url",
            "report",
            "--format",
            "table",
            "http://example.com",
            "https://login.example.net/account/verify.php?id=1",
            "https://shop.example.org/items/1,2,3?sort=price,desc",
        ],
    ),
    (
        "a URL sent for scanning",
        &["url", "scan", "--format", "table", "phishing.example/login"],
    ),
    (
        "domains: resolutions, detections and categories at a glance",
        &[
            "domain",
            "report",
            "--format",
            "table",
            "example.com",
            "login.example.net",
        ],
    ),
    (
        "IP addresses",
        &[
            "ip",
            "report",
            "--format",
            "table",
            "192.0.2.10",
            "198.51.100.7",
        ],
    ),
];

pub(crate) fn run() -> Result<()> {
    let crate::emulator::Binaries {
        vt,
        emulator: emulator_bin,
        scratch,
    } = crate::emulator::build("xtask-demo", false)?;

    // Analyses finish in half a second, so that the scan step waits only briefly.
    let mut emulator = Server::emulator(
        &emulator_bin,
        &["--analysis-delay".to_owned(), "0.5".to_owned()],
    )?;
    eprintln!("xtask: vt-emulator listening on {}", emulator.url);
    let result = steps(&vt, &emulator.url, &scratch);
    emulator.stop();
    result?;
    eprintln!(
        "\nxtask: demo done. Against the real service: export VT_API_KEY=<your key>, then the \
         same `vt ...` commands without VT_BASE_URL."
    );
    Ok(())
}

fn steps(vt: &Path, url: &str, scratch: &Path) -> Result<()> {
    // As `vt init --tier private` would leave it (the emulator takes any key as private): the
    // lookups go at a private key's pace, not four a minute.
    let config = scratch.join("config");
    std::fs::create_dir_all(&config).context("cannot create the demo's config dir")?;
    write_private(
        &config.join("config"),
        &format!("api_key = {DEMO_KEY}\ntier = private\n"),
    )?;
    eprintln!(
        "xtask: the demo's config, as `vt init --tier private` writes it: a key and its tier"
    );
    let eicar = scratch.join("eicar.com");
    std::fs::write(&eicar, EICAR).context("cannot write the EICAR test file")?;
    let eicar = eicar.display().to_string();
    let scans: [(&str, Vec<&str>); 2] = [
        (
            "a file scan: the file is hashed and looked up first; the service knows it, so \
             nothing is uploaded",
            vec!["file", "scan", "--format", "table", &eicar],
        ),
        (
            "the same file uploaded anyway (--force), and its analysis waited for to the report",
            vec![
                "file",
                "scan",
                "--force",
                "--wait=30s",
                "--format",
                "table",
                &eicar,
            ],
        ),
    ];
    let steps = STEPS
        .iter()
        .map(|(title, args)| (*title, args.to_vec()))
        .chain(scans);
    for (title, args) in steps {
        eprintln!("\n# {title}");
        eprintln!("$ vt {}", args.join(" "));
        let status = Command::new(vt)
            .args(&args)
            .env("VT_BASE_URL", url)
            .env_remove("VT_API_KEY")
            .env("VT_CONFIG_DIR", &config)
            .env("VT_CACHE_DIR", scratch.join("cache"))
            .env_remove("VT_TESTING_TIME_SCALE")
            .stdin(Stdio::null())
            .status()
            .with_context(|| format!("cannot run {}", vt.display()))?;
        if !status.success() {
            bail!("vt {} failed ({status})", args.join(" "));
        }
    }
    Ok(())
}

/// Writes a file only its owner may read (`vt` refuses a key file others can read).
fn write_private(path: &Path, text: &str) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}
