//! The commands that act on files and URLs one query at a time, through the lookup driver
//! like every lookup: `vt file rescan` (and `--delete`), `vt comment get`, `vt comment put`.
//! What they add is only their parameters, checked before anything is sent.

use std::io::Read;

use anyhow::Result;
use vt_api::{CommentText, Params};

use crate::cli::{CommentGetArgs, CommentPutArgs, Global, RescanArgs};
use crate::{lookup, UsageError};

pub(crate) async fn rescan(args: &RescanArgs, global: &Global) -> Result<u8> {
    let mut params = Params::new();
    for (name, value) in [
        ("date", args.date.clone()),
        ("period", args.period.map(|n| n.to_string())),
        ("repeat", args.repeat.map(|n| n.to_string())),
        ("notify_url", args.notify_url.clone()),
        (
            "notify_changes_only",
            args.notify_changes_only.then(|| "1".to_owned()),
        ),
    ] {
        if let Some(value) = value {
            params = params.with(name, value);
        }
    }
    match args.delete {
        false => {
            lookup::run(
                lookup::Command {
                    endpoint: &vt_api::FILE_RESCAN,
                    params,
                    what: "hashes",
                    private_feature: Some("file rescan"),
                    arguments: &args.resources,
                    inputs: &args.inputs,
                    client: &args.client,
                },
                global,
            )
            .await
        }
        true => {
            lookup::run(
                lookup::Command {
                    endpoint: &vt_api::FILE_RESCAN_DELETE,
                    params,
                    what: "hashes",
                    private_feature: Some("file rescan --delete"),
                    arguments: &args.resources,
                    inputs: &args.inputs,
                    client: &args.client,
                },
                global,
            )
            .await
        }
    }
}

pub(crate) async fn comment_get(args: &CommentGetArgs, global: &Global) -> Result<u8> {
    let params = match &args.before {
        Some(before) => Params::new().with("before", before.clone()),
        None => Params::new(),
    };
    lookup::run(
        lookup::Command {
            endpoint: &vt_api::COMMENTS_GET,
            params,
            what: "hashes or URLs",
            private_feature: Some("comment get"),
            arguments: &args.resources,
            inputs: &args.inputs,
            client: &args.client,
        },
        global,
    )
    .await
}

pub(crate) async fn comment_put(args: &CommentPutArgs, global: &Global) -> Result<u8> {
    let text = match args.text.as_str() {
        "-" => {
            // One byte more than allowed is enough to say it is too long.
            let mut text = String::new();
            std::io::stdin()
                .lock()
                .take(vt_api::vt_model::MAX_COMMENT_BYTES as u64 + 1)
                .read_to_string(&mut text)
                .map_err(|e| UsageError::new(format!("cannot read the comment from stdin: {e}")))?;
            text
        }
        text => text.to_owned(),
    };
    let comment = CommentText::parse(&text).map_err(|e| UsageError::new(e.to_string()))?;
    lookup::run(
        lookup::Command {
            endpoint: &vt_api::COMMENTS_PUT,
            params: Params::new().with("comment", comment.to_string()),
            what: "hashes or URLs",
            private_feature: None,
            arguments: std::slice::from_ref(&args.resource),
            inputs: &[],
            client: &args.client,
        },
        global,
    )
    .await
}
