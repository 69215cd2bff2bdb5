//! What must hold when any bytes are decoded as a `/file/report` body: no panic, the three
//! decoders agree, a body that decodes re-encodes to the same JSON value (the lossless
//! invariant), and each answer's span is the exact bytes of that answer.
//!
//! Shared by the fuzz target `decode_body` and by crates/vt-model/tests/fuzz_regressions.rs,
//! which replays the committed corpus through it.

use vt_model::{decode_answer, decode_body, decode_body_spans, FileReportBody};

/// Panics when an invariant does not hold for `data`.
pub(crate) fn check(data: &[u8]) {
    let body = decode_body(data);
    let spans = decode_body_spans(data);
    let single = decode_answer(data);
    let body = match body {
        Ok(body) => body,
        Err(error) => {
            let decode = error.as_decode().expect("a body fails as a decode error");
            assert!(
                decode.excerpt.chars().count() <= 80,
                "excerpt too long: {decode:?}"
            );
            assert!(!error.to_string().is_empty());
            assert!(
                spans.is_err(),
                "decode_body failed, decode_body_spans did not"
            );
            assert!(single.is_err(), "decode_body failed, decode_answer did not");
            return;
        }
    };

    // Lossless: the typed body encodes to the JSON value that was received.
    let received: serde_json::Value =
        serde_json::from_slice(data).expect("a body that decodes is JSON");
    let encoded = serde_json::to_value(&body).expect("a decoded body encodes");
    assert_eq!(encoded, received, "encode(decode(body)) != body");
    let bytes = serde_json::to_vec(&body).expect("a decoded body encodes");
    assert_eq!(
        decode_body(&bytes).expect("an encoded body decodes"),
        body,
        "decode(encode(decode(body))) != decode(body)"
    );

    // The span decoder finds the same answers, each at the bytes that hold it, in order.
    let spans = spans.expect("decode_body_spans decodes whatever decode_body does");
    assert_eq!(spans.len(), body.answers().len());
    let mut end = 0;
    for ((answer, span), expected) in spans.iter().zip(body.answers()) {
        assert_eq!(answer, expected);
        assert!(
            end <= span.start && span.start < span.end && span.end <= data.len(),
            "span {span:?} after {end} in a body of {}",
            data.len()
        );
        end = span.end;
        assert_eq!(
            &decode_answer(&data[span.clone()]).expect("a span decodes alone"),
            expected
        );
    }

    match &body {
        FileReportBody::One(answer) => {
            assert_eq!(&single.expect("one object decodes alone"), answer)
        }
        FileReportBody::Batch(_) => assert!(single.is_err(), "an array is not one answer"),
        _ => {}
    }

    // The questions callers ask of an answer never panic and agree with each other.
    for answer in body.answers() {
        assert!(!answer.status().is_empty());
        let _ = (
            answer.response_code(),
            answer.resource(),
            answer.verbose_msg(),
        );
        let Some(report) = answer.as_found() else {
            continue;
        };
        assert_eq!(answer.status(), "found");
        let ratio = report.detection_ratio();
        let fraction = ratio.fraction();
        assert!(
            fraction >= 0.0 && fraction.is_finite(),
            "{ratio}: {fraction}"
        );
        let detecting = report.detecting_engines().count();
        let named = report.detection_names().count();
        assert!(named <= detecting && detecting <= report.scans.len());
        let top = report.top_detection_names(3);
        assert!(top.len() <= 3 && top.iter().map(|(_, n)| n).sum::<usize>() <= named);
        let public = report.to_public();
        assert_eq!(public.scans, report.scans);
        assert!(public.additional_info.is_none() && public.extra.is_empty());
        serde_json::to_vec(&public).expect("the public view encodes");
        let _ = (report.authentihash(), report.vhash());
        let _ = report.scan_date.to_system_time();
        if let Some(info) = &report.additional_info {
            for section in info.sections.iter().flatten() {
                let _ = section.entropy();
            }
        }
    }
}
