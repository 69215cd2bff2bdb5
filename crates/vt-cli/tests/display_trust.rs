//! What `vt` shows can be trusted (issue #11): a file name or a service's answer cannot move
//! the cursor, erase or add rows of the table, or retitle the terminal, and a CSV report
//! cannot make a spreadsheet run a formula. The real `vt`, against the emulator or a tiny
//! hostile server of the test; jsonl keeps the service's bytes.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

use common::*;

/// A file that would erase the row above it and write over the start of its own.
const ERASING_NAME: &str = "zz\r\x1b[1A\x1b[2K\rnote.txt";
/// How the table and stderr show it.
const ERASING_SHOWN: &str = r"zz\r\x1b[1A\x1b[2K\rnote.txt";
/// A file that would add a fake row.
const FAKE_ROW_NAME: &str = "fake\nrow 0/70 clean.txt";
const FAKE_ROW_SHOWN: &str = r"fake\nrow 0/70 clean.txt";

/// What a terminal acts on instead of showing: C0, DEL, C1 and the bidi overrides.
fn has_terminal_controls(text: &str) -> bool {
    text.chars().any(|c| {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    })
}

/// A folder of `--hash` holding the hostile names and an ordinary file.
fn hostile_folder(env: &Env) -> std::path::PathBuf {
    env.write(&format!("drop/{ERASING_NAME}"), "one");
    env.write(&format!("drop/{FAKE_ROW_NAME}"), "two");
    env.write("drop/plain.txt", "three");
    env.path("drop")
}

#[test]
fn table_rows_of_files_named_with_controls_are_one_line_each_with_the_escapes_visible() {
    let env = Env::new();
    let folder = hostile_folder(&env);
    let out = run(env
        .vt()
        .args(["file", "report", "--tier", "private", "--format", "table"])
        .arg("--hash")
        .arg(&folder));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rows: Vec<&str> = out.stdout.trim_end_matches('\n').split('\n').collect();
    assert_eq!(
        rows.len(),
        1 + 3,
        "a header and one row per file:\n{}",
        out.stdout
    );
    assert!(
        !has_terminal_controls(&out.stdout),
        "raw controls in the table: {:?}",
        out.stdout
    );
    assert!(rows[0].starts_with("PATH"), "{}", rows[0]);
    // In name order: "fake..." < "plain.txt" < "zz...".
    assert!(rows[1].contains(FAKE_ROW_SHOWN), "{}", rows[1]);
    assert!(rows[2].contains("plain.txt"), "{}", rows[2]);
    assert!(rows[3].contains(ERASING_SHOWN), "{}", rows[3]);
    for row in &rows[1..] {
        assert!(row.contains("not_found"), "{row}");
    }
}

#[cfg(unix)]
#[test]
fn stderr_lines_about_a_file_named_with_controls_show_the_escapes() {
    let env = Env::new();
    let folder = hostile_folder(&env);
    // A link to nothing, named to retitle the terminal: it cannot be read, and says so.
    let dangling = folder.join("gone\x1b]0;owned\x07.lnk");
    std::os::unix::fs::symlink(env.path("nowhere"), &dangling).unwrap();
    for format in ["jsonl", "table"] {
        let out = run(env
            .vt()
            .args(["file", "report", "--tier", "private", "--format", format])
            .arg("--hash")
            .arg(&folder));
        assert_eq!(out.code, 1, "{format}: {}", out.stderr);
        assert!(
            !has_terminal_controls(&out.stderr),
            "{format}: raw controls on stderr: {:?}",
            out.stderr
        );
        for line in out.stderr.lines() {
            assert!(line.starts_with("vt: "), "{format}: {line:?}");
        }
        assert!(
            out.stderr.contains("1 of 4 lookups failed"),
            "{format}: {}",
            out.stderr
        );
        if format == "jsonl" {
            // The failure is said on stderr, with the name escaped.
            assert!(
                out.stderr
                    .contains(r"gone\x1b]0;owned\x07.lnk is a symbolic link"),
                "{}",
                out.stderr
            );
            // jsonl keeps the name's bytes (JSON escapes them).
            let records = lines_as_json(&out.stdout);
            assert!(records[0]["path"]
                .as_str()
                .unwrap()
                .ends_with(FAKE_ROW_NAME));
            assert!(records[1]["path"]
                .as_str()
                .unwrap()
                .ends_with("gone\x1b]0;owned\x07.lnk"));
        } else {
            assert!(!has_terminal_controls(&out.stdout), "{:?}", out.stdout);
            assert_eq!(out.stdout.lines().count(), 1 + 4, "{}", out.stdout);
            assert!(
                out.stdout.contains(r"gone\x1b]0;owned\x07.lnk"),
                "{}",
                out.stdout
            );
        }
    }
}

#[test]
fn csv_paths_starting_like_a_formula_get_a_quote_in_front() {
    let env = Env::new();
    for name in ["=cmd.txt", "+sum.txt", "@at.txt"] {
        env.write(name, name);
    }
    let out = run(env
        .vt()
        .args(["file", "report", "--tier", "private", "--format", "csv"])
        .args(["--hash", "=cmd.txt", "+sum.txt", "@at.txt"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let table = parse_csv(&out.stdout);
    assert_eq!(table.len(), 1 + 3, "{}", out.stdout);
    let path = table[0].iter().position(|h| h == "path").unwrap();
    let paths: Vec<&str> = table[1..].iter().map(|row| row[path].as_str()).collect();
    assert_eq!(paths, ["'=cmd.txt", "'+sum.txt", "'@at.txt"]);
}

/// The MD5 the hostile server's answers are about.
const HOSTILE_MD5: &str = "b3fd769844dfe24206f5820dce4ab48a";

/// A found report whose texts would drive a terminal and a spreadsheet.
fn hostile_found_report() -> String {
    format!(
        r#"{{"response_code": 1, "verbose_msg": "Scan finished\u001b]0;owned\u0007", "resource": "{HOSTILE_MD5}", "scan_id": "80fe3abb9d31728f03100b544f74674f4eb8e9245327e59cf19d93b7039485ab-1795046400", "md5": "{HOSTILE_MD5}", "sha1": "fe4fade76e2705ce983c8585a7108d722621cbb3", "sha256": "80fe3abb9d31728f03100b544f74674f4eb8e9245327e59cf19d93b7039485ab", "scan_date": "2026-11-19 00:00:00", "permalink": "=HYPERLINK(\"http://evil\",\"x\")", "positives": 1, "total": 1, "scans": {{"Evil AV": {{"detected": true, "version": "1", "result": "\u001b[31mTrojan\r", "update": "20261119"}}}}}}"#
    )
}

/// A not-found answer whose message would retitle the terminal and add a fake row.
fn hostile_not_found() -> String {
    format!(
        r#"{{"response_code": 0, "resource": "{HOSTILE_MD5}", "verbose_msg": "\u001b]0;owned\u0007gone\r\n{HOSTILE_MD5}  found  70/70"}}"#
    )
}

/// A server that answers every request with `status` and `body`, one connection a request.
/// Its thread ends with the test process.
fn hostile_server(status: &'static str, body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = answer(stream, status, &body);
        }
    });
    format!("http://{addr}/vtapi/v2/")
}

/// Reads one request (headers, then the body its Content-Length says) and answers it.
fn answer(stream: TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut request_body = vec![0; length];
    reader.read_exact(&mut request_body)?;
    let mut stream = reader.into_inner();
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// `vt file report HOSTILE_MD5` against `base_url` in `format`.
fn report_from(env: &Env, base_url: &str, format: &str) -> Output {
    run(env.vt_at(base_url).env("VT_API_KEY", KEY).args([
        "file",
        "report",
        "--tier",
        "private",
        "--no-cache",
        "--retries",
        "1",
        "--format",
        format,
        HOSTILE_MD5,
    ]))
}

#[test]
fn table_escapes_the_services_verdicts_and_messages_that_jsonl_passes_through_byte_for_byte() {
    let env = Env::empty();
    for body in [hostile_found_report(), hostile_not_found()] {
        let url = hostile_server("200 OK", body.clone());
        let table = report_from(&env, &url, "table");
        assert_eq!(table.code, 0, "{}", table.stderr);
        assert!(
            !has_terminal_controls(&table.stdout),
            "raw controls in the table: {:?}",
            table.stdout
        );
        assert_eq!(table.stdout.lines().count(), 2, "{}", table.stdout);
        let jsonl = report_from(&env, &url, "jsonl");
        assert_eq!(jsonl.code, 0, "{}", jsonl.stderr);
        assert_eq!(jsonl.stdout, format!("{body}\n"), "the service's bytes");
    }
    let found = report_from(
        &env,
        &hostile_server("200 OK", hostile_found_report()),
        "table",
    );
    assert!(
        found.stdout.contains(r"\x1b[31mTrojan\r"),
        "{}",
        found.stdout
    );
    let not_found = report_from(
        &env,
        &hostile_server("200 OK", hostile_not_found()),
        "table",
    );
    assert!(
        not_found
            .stdout
            .contains(r"\x1b]0;owned\x07gone\r\nb3fd769844dfe24206f5820dce4ab48a  found"),
        "{}",
        not_found.stdout
    );
}

#[test]
fn stderr_lines_of_a_failed_lookup_quoting_the_service_hold_no_controls() {
    let env = Env::empty();
    let url = hostile_server(
        "400 Bad Request",
        "\x1b]0;owned\x07\r\x1b[2Kbad\nvt: 0 of 1 lookups failed".to_owned(),
    );
    for format in ["jsonl", "csv", "table"] {
        let out = report_from(&env, &url, format);
        assert_eq!(out.code, 1, "{format}: {}", out.stderr);
        assert!(
            !has_terminal_controls(&out.stderr),
            "{format}: raw controls on stderr: {:?}",
            out.stderr
        );
        assert!(
            out.stderr.lines().all(|line| line.starts_with("vt: ")),
            "{format}: {}",
            out.stderr
        );
        // The machine formats say the failure on stderr; the table says it in its row.
        let said = if format == "table" {
            assert!(!has_terminal_controls(&out.stdout), "{:?}", out.stdout);
            assert_eq!(out.stdout.lines().count(), 2, "{}", out.stdout);
            &out.stdout
        } else {
            &out.stderr
        };
        assert!(said.contains("400 Bad Request"), "{format}: {said}");
    }
}

#[test]
fn csv_cells_of_the_service_starting_like_a_formula_get_a_quote_and_the_csv_still_parses() {
    let env = Env::empty();
    let out = report_from(
        &env,
        &hostile_server("200 OK", hostile_found_report()),
        "csv",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let table = parse_csv(&out.stdout);
    assert_eq!(table.len(), 2, "{}", out.stdout);
    let header = &table[0];
    assert_eq!(
        header.join(","),
        "resource,status,positives,total,scan_date,md5,sha1,sha256,permalink,cached_at,detections,message,error_kind,label"
    );
    assert_eq!(table[1].len(), header.len(), "{:?}", table[1]);
    let permalink = &table[1][header.iter().position(|h| h == "permalink").unwrap()];
    assert_eq!(permalink, r#"'=HYPERLINK("http://evil","x")"#);
}

/// RFC 4180, strictly: every row of `text`, each a list of fields. Panics on a stray quote.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => {
                assert!(field.is_empty(), "a quote inside a field: {text}");
                quoted = true;
            }
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(!quoted, "an unterminated quote: {text}");
    assert!(field.is_empty() && row.is_empty(), "no final newline");
    rows
}
