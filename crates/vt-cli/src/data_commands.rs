//! The private-key commands that bring data rather than one verdict a query: `vt file
//! download` and `vt file traffic` (files streamed to disk), `vt file behaviour` (a sandbox
//! report), `vt file search` (hashes, page after page) and `vt file clusters` (a day's
//! clusters). Each checks what it was given before anything is sent, and writes its records
//! in the four formats through [`Rows`].

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use vt_api::vt_model::{BehaviourReport, Clusters};
use vt_api::{ClusterDate, Document, Downloaded, Endpoint, Params, Resource, SearchQuery};

use crate::cli::{
    BehaviourArgs, ClustersArgs, DownloadArgs, Format, Global, SearchArgs, TrafficArgs,
};
use crate::output::json_string;
use crate::rows::Rows;
use crate::session::{Credentials, Session};
use crate::{input, ui, wants_color, UsageError, EXIT_FAILED, EXIT_OK};

/// The records of a command on stdout.
fn rows(session: &Session, global: &Global, columns: &'static [&'static str]) -> Rows<impl Write> {
    let color =
        session.format == Format::Table && wants_color(global.color, session.stdout_terminal);
    Rows::new(
        session.format,
        BufWriter::new(io::stdout().lock()),
        columns,
        color,
    )
}

/// Says a failure on stderr (the table shows it in its row).
fn say_failure(session: &Session, global: &Global, what: &str, message: &str) {
    if session.format != Format::Table && !global.quiet {
        ui::eprint_line(&format!("vt: {what}: {message}"));
    }
}

/// Checks that `dir` is a folder this user can write, before anything is sent.
fn writable_folder(dir: &Path) -> Result<()> {
    let refuse =
        |reason: String| UsageError::new(format!("cannot save into {}: {reason}", dir.display()));
    let metadata = std::fs::metadata(dir).map_err(|e| refuse(e.to_string()))?;
    if !metadata.is_dir() {
        return Err(refuse("not a folder".to_owned()).into());
    }
    tempfile::Builder::new()
        .prefix(".vt-write-check")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| refuse(e.to_string()).into())
}

const DOWNLOAD_COLUMNS: &[&str] = &["resource", "status", "bytes", "path", "message"];

/// Downloads each of `targets` (a hash and where it goes) from `endpoint`, one after another,
/// with one record each; exit 1 when any did not arrive.
async fn download_all(
    session: &Session,
    global: &Global,
    endpoint: &Endpoint<Resource, vt_api::vt_transport::Bytes>,
    targets: Vec<(Resource, PathBuf)>,
) -> Result<u8> {
    let mut out = rows(session, global, DOWNLOAD_COLUMNS);
    out.begin()?;
    let bar = ui::progress(
        targets.len(),
        targets.len() > 1 && !global.quiet,
        "downloading",
    );
    let mut failed = 0;
    for (hash, to) in targets {
        let resource = hash.as_str();
        let path = to.display().to_string();
        let (json, cells) = match session.client.download(endpoint, &hash, &to).await {
            Ok(Downloaded::Saved { bytes }) => (
                format!(
                    r#"{{"resource":{},"status":"saved","bytes":{bytes},"path":{}}}"#,
                    json_string(resource),
                    json_string(&path)
                ),
                vec![
                    resource.to_owned(),
                    "saved".into(),
                    bytes.to_string(),
                    path,
                    String::new(),
                ],
            ),
            Ok(_) => {
                failed += 1;
                let message = "the service has no such file";
                say_failure(session, global, resource, message);
                (
                    format!(
                        r#"{{"resource":{},"status":"not_found"}}"#,
                        json_string(resource)
                    ),
                    vec![
                        resource.to_owned(),
                        "not_found".into(),
                        String::new(),
                        String::new(),
                        message.into(),
                    ],
                )
            }
            Err(error) => {
                failed += 1;
                let message = error.to_string();
                say_failure(session, global, resource, &message);
                (
                    format!(
                        r#"{{"resource":{},"error":{{"kind":{},"message":{}}}}}"#,
                        json_string(resource),
                        json_string(error.kind()),
                        json_string(&message)
                    ),
                    vec![
                        resource.to_owned(),
                        "error".into(),
                        String::new(),
                        String::new(),
                        message,
                    ],
                )
            }
        };
        ui::suspend(|| out.row(json.as_bytes(), &cells))?;
        bar.inc(1);
    }
    ui::finish_progress(&bar);
    out.finish()?;
    Ok(if failed > 0 { EXIT_FAILED } else { EXIT_OK })
}

pub(crate) async fn download(args: &DownloadArgs, global: &Global) -> Result<u8> {
    let credentials = Credentials::load(&args.client)?;
    let options = input::ReadOptions {
        count_repeats: false,
        ..args.client.read_options()
    };
    let hashes = input::read::<Resource>(&args.hashes, &args.inputs, credentials.key(), options)?;
    if hashes.len() == 0 {
        return Err(UsageError::new(
            "nothing to download: give hashes as arguments, or --input FILE (- for stdin)",
        )
        .into());
    }
    writable_folder(&args.output)?;
    let session = Session::start(&args.client, global, credentials, Some("file download"))?;
    let targets = hashes
        .into_iter()?
        .map(|(hash, _label)| {
            let to = args.output.join(hash.as_str().to_ascii_lowercase());
            (hash, to)
        })
        .collect();
    download_all(&session, global, &vt_api::FILE_DOWNLOAD, targets).await
}

pub(crate) async fn traffic(args: &TrafficArgs, global: &Global) -> Result<u8> {
    let credentials = Credentials::load(&args.client)?;
    let hash = Resource::parse(&args.hash).map_err(|e| UsageError::new(e.to_string()))?;
    let folder = match args.output.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    if args.output.is_dir() {
        return Err(UsageError::new(format!(
            "{} is a folder: give the pcap file's path",
            args.output.display()
        ))
        .into());
    }
    writable_folder(&folder)?;
    let session = Session::start(&args.client, global, credentials, Some("file traffic"))?;
    let targets = vec![(hash, args.output.clone())];
    download_all(&session, global, &vt_api::FILE_NETWORK_TRAFFIC, targets).await
}

/// A document command's one record: the bytes in jsonl and json; `cells` of its view in the
/// table and CSV.
fn document_record<T>(
    out: &mut Rows<impl Write>,
    document: &Document<T>,
    cells: &[Vec<String>],
) -> io::Result<()> {
    match out.is_json() {
        true => out.row(document.bytes(), &[]),
        false => cells.iter().try_for_each(|row| out.row(&[], row)),
    }
}

const BEHAVIOUR_COLUMNS: &[&str] = &[
    "resource",
    "status",
    "started",
    "duration",
    "processes",
    "files",
    "mutexes",
    "network",
];

pub(crate) async fn behaviour(args: &BehaviourArgs, global: &Global) -> Result<u8> {
    let credentials = Credentials::load(&args.client)?;
    let hash = Resource::parse(&args.hash).map_err(|e| UsageError::new(e.to_string()))?;
    let session = Session::start(&args.client, global, credentials, Some("file behaviour"))?;
    let endpoint = &vt_api::FILE_BEHAVIOUR;
    document_command(
        &session,
        global,
        endpoint,
        &hash,
        BEHAVIOUR_COLUMNS,
        |report| vec![behaviour_cells(hash.as_str(), report)],
    )
    .await
}

/// Asks a document endpoint about `query` and writes its one record (the rows of `cells`
/// in the table and CSV), or its error.
async fn document_command<Q: vt_api::Query, T: serde::de::DeserializeOwned>(
    session: &Session,
    global: &Global,
    endpoint: &Endpoint<Q, T>,
    query: &Q,
    columns: &'static [&'static str],
    cells: impl Fn(&T) -> Vec<Vec<String>>,
) -> Result<u8> {
    let asked = session
        .client
        .document(endpoint, query, &Params::new())
        .await;
    let mut out = rows(session, global, columns);
    out.begin()?;
    let code = match asked {
        Ok(document) => {
            document_record(&mut out, &document, &cells(document.view()))?;
            EXIT_OK
        }
        Err(error) => {
            failed_record(&mut out, session, global, query.wire_text(), &error)?;
            EXIT_FAILED
        }
    };
    out.finish().context("cannot write the output")?;
    Ok(code)
}

/// A record for a query that failed, in every format.
fn failed_record(
    out: &mut Rows<impl Write>,
    session: &Session,
    global: &Global,
    resource: &str,
    error: &vt_api::Error,
) -> io::Result<()> {
    let message = error.to_string();
    say_failure(session, global, resource, &message);
    let json = format!(
        r#"{{"resource":{},"error":{{"kind":{},"message":{}}}}}"#,
        json_string(resource),
        json_string(error.kind()),
        json_string(&message)
    );
    let mut cells = vec![resource.to_owned(), "error".to_owned(), message];
    cells.resize(out.width(), String::new());
    out.row(json.as_bytes(), &cells)
}

fn behaviour_cells(resource: &str, report: &BehaviourReport) -> Vec<String> {
    let text = |value: Option<&serde_json::Value>| match value {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    if !report.is_found() {
        let mut cells = vec![
            resource.to_owned(),
            "not_found".to_owned(),
            report.verbose_msg.clone().unwrap_or_default(),
        ];
        cells.resize(BEHAVIOUR_COLUMNS.len(), String::new());
        return cells;
    }
    let info = report.info.as_ref();
    let behavior = report.behavior.as_ref();
    let processes: Vec<&str> = behavior
        .and_then(|b| b.processes.as_deref())
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p.process_name.as_deref())
        .collect();
    let summary_count = |key: &str| {
        behavior
            .and_then(|b| b.summary.as_ref())
            .and_then(|s| s.get(key))
            .and_then(|v| v.as_array())
            .map_or(0, Vec::len)
            .to_string()
    };
    let network: Vec<String> = report
        .network
        .iter()
        .flatten()
        .filter_map(|(kind, items)| Some(format!("{kind} {}", items.as_array()?.len())))
        .collect();
    vec![
        resource.to_owned(),
        "found".to_owned(),
        text(info.and_then(|i| i.started.as_ref())),
        text(info.and_then(|i| i.duration.as_ref())),
        processes.join(", "),
        summary_count("files"),
        summary_count("mutexes"),
        network.join(", "),
    ]
}

pub(crate) async fn search(args: &SearchArgs, global: &Global) -> Result<u8> {
    let credentials = Credentials::load(&args.client)?;
    let query = SearchQuery::parse(&args.query).map_err(|e| UsageError::new(e.to_string()))?;
    let session = Session::start(&args.client, global, credentials, Some("file search"))?;
    let mut out = rows(&session, global, &["sha256"]);
    out.begin()?;
    let mut found = session.client.search(query);
    let mut written = 0u64;
    let limit = args.limit.unwrap_or(u64::MAX);
    let mut code = EXIT_OK;
    while written < limit {
        match found.next().await {
            None => break,
            Some(Ok(sha256)) => {
                let json = format!(r#"{{"sha256":{}}}"#, json_string(&sha256));
                out.row(json.as_bytes(), &[sha256])?;
                written += 1;
            }
            Some(Err(error)) => {
                if !global.quiet {
                    ui::eprint_line(&format!(
                        "vt: the search stopped after {written} files: {error}"
                    ));
                }
                code = EXIT_FAILED;
                break;
            }
        }
    }
    out.finish()?;
    Ok(code)
}

const CLUSTER_COLUMNS: &[&str] = &["id", "size", "avg_positives", "label"];

pub(crate) async fn clusters(args: &ClustersArgs, global: &Global) -> Result<u8> {
    let credentials = Credentials::load(&args.client)?;
    let day = ClusterDate::parse(&args.date).map_err(|e| UsageError::new(e.to_string()))?;
    let session = Session::start(&args.client, global, credentials, Some("file clusters"))?;
    let endpoint = &vt_api::FILE_CLUSTERS;
    document_command(
        &session,
        global,
        endpoint,
        &day,
        CLUSTER_COLUMNS,
        |view: &Clusters| {
            if view.response_code.is_some_and(|code| code != 1) && !global.quiet {
                ui::eprint_line(&format!(
                    "vt: no clusters for {day}: {}",
                    view.verbose_msg.as_deref().unwrap_or("")
                ));
            }
            view.clusters
                .iter()
                .flatten()
                .map(|cluster| {
                    vec![
                        cluster.id.clone(),
                        cluster.size.map(|n| n.to_string()).unwrap_or_default(),
                        cluster
                            .avg_positives
                            .map(|n| n.to_string())
                            .unwrap_or_default(),
                        cluster.label.clone().unwrap_or_default(),
                    ]
                })
                .collect()
        },
    )
    .await
}
