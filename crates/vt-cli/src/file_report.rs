//! `vt file report`: validate every input, hash files, and look everything up through the
//! driver, one record per input in input order.

use anyhow::{Context, Result};
use vt_api::{Params, Resource, FILE_REPORT};

use crate::cli::{Global, ReportArgs};
use crate::driver::{self, Row};
use crate::output::TableLayout;
use crate::session::{Credentials, Session};
use crate::{hash, input, ui, wants_color};

pub(crate) async fn run(args: &ReportArgs, global: &Global) -> Result<u8> {
    // Everything the user typed is checked before anything is sent (the key first, so that an
    // input holding it is refused without being quoted).
    let credentials = Credentials::load(&args.client)?;
    let lists = input::lists_or_piped_stdin(&args.resources, &args.inputs, !args.hash.is_empty());
    let mut resources = input::read(
        &args.resources,
        &lists,
        credentials.key(),
        args.client.read_options(),
    )?;
    if resources.len() == 0 && args.hash.is_empty() {
        return Err(input::nothing_to_look_up(
            &lists,
            "give resources as arguments, --input FILE (- for stdin) or --hash PATH",
        )
        .into());
    }
    let session = Session::start(
        &args.client,
        global,
        credentials,
        args.allinfo.then_some("--allinfo"),
    )?;

    let hashed = if args.hash.is_empty() {
        Vec::new()
    } else {
        let (paths, follow_links) = (args.hash.clone(), args.follow_links);
        let files = tokio::task::spawn_blocking(move || hash::list(&paths, follow_links))
            .await
            .context("listing files failed")?;
        let bar = ui::progress(files.len(), files.len() > 1 && !global.quiet, "hashing");
        let counter = bar.clone();
        let hashed =
            tokio::task::spawn_blocking(move || hash::hash_files(files, &|| counter.inc(1)))
                .await
                .context("hashing failed")?;
        ui::finish_progress(&bar);
        hashed
    };
    let lookups = resources.len() + hashed.iter().filter(|h| h.result.is_ok()).count();
    session
        .warn_if_over_daily_quota(lookups, session.limits.batch_size, global)
        .await;

    let path_width = (!hashed.is_empty()).then(|| {
        hashed
            .iter()
            .map(|h| h.path.to_string_lossy().chars().count())
            .max()
            .unwrap_or(4)
            .clamp(4, 80)
    });
    let layout = TableLayout {
        resource_width: resources
            .max_width
            .max(if hashed.is_empty() { 8 } else { 64 }),
        path_width,
        color: session.format == crate::cli::Format::Table
            && wants_color(global.color, session.stdout_terminal),
    };
    let plain = resources.len();
    let total = plain + hashed.len();
    let from_files = hashed
        .iter()
        .filter_map(|h| h.result.as_ref().ok())
        .filter_map(|hex| Resource::parse(hex).ok())
        .map(|sha256| (sha256, None))
        .collect::<Vec<_>>();
    let repeats = resources.repeats.take().map(|mut counter| {
        from_files
            .iter()
            .for_each(|(resource, _)| counter.add(resource));
        counter.finish()
    });
    let queries = resources.into_iter()?.chain(from_files);
    let rows = std::iter::repeat_with(|| Row::Ask { path: None })
        .take(plain)
        .chain(hashed.iter().map(|h| match &h.result {
            Ok(_) => Row::Ask {
                path: Some(&h.path),
            },
            Err(message) => Row::Failed {
                path: &h.path,
                kind: "io",
                message: message.clone(),
            },
        }));
    driver::run(
        &session,
        global,
        driver::Lookups {
            endpoint: &FILE_REPORT,
            params: Params::allinfo(args.allinfo),
            wait_queued: args.client.wait_queued,
            repeats,
            queries,
            rows,
            total,
            layout,
        },
    )
    .await
}
