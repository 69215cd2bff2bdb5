//! The lookup commands that take their queries as they are typed (`vt url report`, `vt url
//! scan`, `vt domain report`, `vt ip report`): one function, generic over the endpoint.
//! `vt file report` adds `--hash` to the same steps (`file_report.rs`).

use std::path::PathBuf;

use anyhow::Result;
use vt_api::{Batching, Endpoint, Params, RepeatCounter};

use crate::cli::{ClientArgs, Format, Global};
use crate::driver::{self, Row};
use crate::input::{self, Input};
use crate::output::{AnswerKind, TableLayout};
use crate::session::{Credentials, Session};
use crate::wants_color;

/// What a lookup command was given.
pub(crate) struct Command<'a, Q, T> {
    pub(crate) endpoint: &'a Endpoint<Q, T>,
    pub(crate) params: Params,
    /// What the queries are, for messages: "URLs", "domains", "IP addresses".
    pub(crate) what: &'static str,
    /// A flag of the command that needs a private key, warned about on a public tier.
    pub(crate) private_feature: Option<&'static str>,
    pub(crate) arguments: &'a [String],
    pub(crate) inputs: &'a [PathBuf],
    pub(crate) client: &'a ClientArgs,
}

pub(crate) async fn run<Q: Input, T: AnswerKind>(
    command: Command<'_, Q, T>,
    global: &Global,
) -> Result<u8> {
    // Everything the user typed is checked before anything is sent (the key first, so that an
    // input holding it is refused without being quoted).
    let credentials = Credentials::load(command.client)?;
    let lists = input::lists_or_piped_stdin(command.arguments, command.inputs, false);
    let mut queries = input::read::<Q>(
        command.arguments,
        &lists,
        credentials.key(),
        command.client.read_options(),
    )?;
    if queries.len() == 0 {
        let how = format!(
            "give {} as arguments, or --input FILE (- for stdin)",
            command.what
        );
        return Err(input::nothing_to_look_up(&lists, &how).into());
    }
    let session = Session::start(command.client, global, credentials, command.private_feature)?;
    let per_request = match command.endpoint.spec().batching {
        Batching::Single => 1,
        _ => session.limits.batch_size,
    };
    session
        .warn_if_over_daily_quota(queries.len(), per_request, global)
        .await;
    let total = queries.len();
    let layout = TableLayout {
        resource_width: queries.max_width.clamp(8, 80),
        path_width: None,
        color: session.format == Format::Table
            && wants_color(global.color, session.stdout_terminal),
    };
    driver::run(
        &session,
        global,
        driver::Lookups {
            endpoint: command.endpoint,
            params: command.params,
            wait_queued: command.client.wait_queued,
            repeats: queries.repeats.take().map(RepeatCounter::finish),
            queries: queries.into_iter()?,
            rows: std::iter::repeat_with(|| Row::Ask { path: None }).take(total),
            total,
            layout,
        },
    )
    .await
}
