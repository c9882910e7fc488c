//! Reading each trace format (`crate::trace`) from files granted with its prefix:
//! rows, times, sessions, and malformed rows named or skipped.

use std::path::PathBuf;

use super::{Dataset, Format, OnError};
use crate::trace::{TraceFormat, TraceRow};

/// [`super::tests::file_with`], the path as text (a grant prefixes it).
fn file_with(name: &str, content: &str) -> (PathBuf, String) {
    let (dir, p) = super::tests::file_with(name, content);
    (dir, p.display().to_string())
}

fn rows(d: &Dataset) -> Vec<TraceRow> {
    (0..d.len()).map(|i| d.row(i).unwrap().unwrap().trace.unwrap()).collect()
}

#[test]
fn mooncake_rows_keep_blocks_times_and_sessions() {
    let (dir, p) = file_with(
        "m.jsonl",
        concat!(
            "{\"timestamp\": 1000, \"input_length\": 700, \"output_length\": 5, \"hash_ids\": [1, 2]}\n",
            "{\"timestamp\": 1250, \"input_length\": 600, \"output_length\": 9, \"hash_ids\": [1, 3], \"session_id\": \"s\"}\n",
            "\n",
            "{\"input_length\": 900, \"output_length\": 1, \"hash_ids\": [1, 3, 4], \"session_id\": \"s\", \"delay\": 2.5}\n",
        ),
    );
    let d = Dataset::open("t", std::path::Path::new(&format!("mooncake:{p}")), OnError::Fail).unwrap();
    assert_eq!((d.format, d.len(), d.info().format.as_str()), (Format::Trace(TraceFormat::Mooncake), 3, "mooncake"));
    let r = rows(&d);
    assert_eq!((r[0].at_us, r[0].input_tokens, r[0].output_tokens, &r[0].hash_ids[..]), (0, 700, 5, &[1, 2][..]));
    assert_eq!((r[1].at_us, r[1].session.as_deref(), r[1].after.len()), (250_000, Some("s"), 0));
    assert_eq!((r[2].after.clone(), r[2].delay_us, r[2].at_us), (vec![1], 2_500, 250_000));
    assert!(d.row(0).unwrap().unwrap().raw.contains("\"hash_ids\":[1,2]"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn malformed_trace_rows_name_file_and_line_or_are_skipped() {
    let cases = [
        (
            "mooncake",
            "a.jsonl",
            "{\"timestamp\": 1, \"input_length\": 5, \"output_length\": 1}\n{\"timestamp\": 2, \"input_length\": -3, \"output_length\": 1}\n",
            "a.jsonl:2: malformed row: `input_length` must be a whole number",
        ),
        (
            "mooncake",
            "b.jsonl",
            "{\"timestamp\": 1, \"input_length\": 5, \"output_length\": 1}\n{\"input_length\": 5}\n",
            "b.jsonl:2: malformed row: no `output_length`",
        ),
        (
            "burstgpt",
            "c.csv",
            "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n5,ChatGPT,10,20,30,Conversation log\n6,GPT-4,ten,1,1,x\n",
            "c.csv:3: malformed row: `input tokens` is not a number",
        ),
        (
            "azure",
            "d.csv",
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:61,1,1\n",
            "d.csv:3: malformed row: `TIMESTAMP` is not a date",
        ),
    ];
    for (prefix, name, content, error) in cases {
        let (dir, p) = file_with(name, content);
        let path = PathBuf::from(format!("{prefix}:{p}"));
        let e = Dataset::open("t", &path, OnError::Fail).err().unwrap().to_string();
        assert!(e.contains(error), "{e}");
        let d = Dataset::open("t", &path, OnError::Skip).unwrap();
        assert_eq!((d.len(), d.skipped), (1, 1), "{name}");
        std::fs::remove_dir_all(dir).unwrap();
    }
    let (dir, p) = file_with("e.csv", "when,how many\n1,2\n");
    let e = Dataset::open("t", &PathBuf::from(format!("burstgpt:{p}")), OnError::Fail).err().unwrap().to_string();
    assert!(e.contains("e.csv:1: a BurstGPT trace's header names a `timestamp` column"), "{e}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn burstgpt_and_azure_rows_read_by_header() {
    let (dir, p) = file_with(
        "b.csv",
        "Model,Timestamp,Request tokens,Response tokens,Total tokens,Log Type\nChatGPT,5.5,10,20,30,Conversation log\nGPT-4,7,11,0,11,API log\n",
    );
    let d = Dataset::open("t", &PathBuf::from(format!("burstgpt:{p}")), OnError::Fail).unwrap();
    let r = rows(&d);
    assert_eq!((r[0].at_us, r[0].input_tokens, r[0].output_tokens, r[0].model.as_deref()), (0, 10, 20, Some("ChatGPT")));
    assert_eq!((r[1].at_us, r[1].model.as_deref()), (1_500_000, Some("GPT-4")));
    let (dir2, p) = file_with(
        "a.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:50.0000000,396,109\n",
    );
    let r = rows(&Dataset::open("t", &PathBuf::from(format!("azure:{p}")), OnError::Fail).unwrap());
    assert_eq!((r[1].at_us, r[1].input_tokens, r[1].output_tokens), (3_319_410, 396, 109));
    std::fs::remove_dir_all(dir).unwrap();
    std::fs::remove_dir_all(dir2).unwrap();
}

/// One OTLP JSON span.
fn span(trace: &str, name: &str, op: &str, start_ms: u64, end_ms: u64, tokens: (u32, u32)) -> String {
    format!(
        r#"{{"traceId":"{trace}","spanId":"00","name":"{name}","kind":3,"startTimeUnixNano":"{}","endTimeUnixNano":"{}","attributes":[{{"key":"gen_ai.operation.name","value":{{"stringValue":"{op}"}}}},{{"key":"gen_ai.usage.input_tokens","value":{{"intValue":"{}"}}}},{{"key":"gen_ai.usage.output_tokens","value":{{"intValue":{}}}}},{{"key":"gen_ai.input.messages","value":{{"stringValue":"never read"}}}}]}}"#,
        start_ms * 1_000_000 + 1_700_000_000_000_000_000,
        end_ms * 1_000_000 + 1_700_000_000_000_000_000,
        tokens.0,
        tokens.1
    )
}

fn export(spans: &[String]) -> String {
    format!(r#"{{"resourceSpans":[{{"resource":{{}},"scopeSpans":[{{"scope":{{"name":"volley"}},"spans":[{}]}}]}}]}}"#, spans.join(","))
}

#[test]
fn otel_spans_become_sessions_of_linked_requests() {
    let doc1 = export(&[span("t1", "invoke_agent", "invoke_agent", 0, 50, (0, 0)), span("t1", "chat m", "chat", 0, 10, (100, 5))]);
    let doc2 = export(&[
        span("t1", "chat m", "chat", 13, 20, (150, 7)),
        span("t1", "execute_tool", "execute_tool", 10, 13, (0, 0)),
        span("t2", "text_completion m", "text_completion", 4, 6, (9, 1)),
    ]);
    let (dir, p) = file_with("spans.jsonl", &format!("{doc1}\n{doc2}\n"));
    let d = Dataset::open("t", &PathBuf::from(format!("otel:{p}")), OnError::Fail).unwrap();
    let r = rows(&d);
    let shape: Vec<_> =
        r.iter().map(|r| (r.at_us, r.input_tokens, r.output_tokens, r.session.is_some(), r.after.clone(), r.delay_us)).collect();
    assert_eq!(shape, vec![(0, 100, 5, true, vec![], 0), (4_000, 9, 1, false, vec![], 0), (13_000, 150, 7, true, vec![0], 3_000)]);
    assert!(!d.row(0).unwrap().unwrap().raw.contains("never read"));
    // A span without times is named, or skipped.
    let bad = export(&[
        span("t1", "chat m", "chat", 0, 10, (1, 1)),
        span("t1", "chat m", "chat", 0, 10, (1, 1)).replace("\"endTimeUnixNano\"", "\"x\""),
    ]);
    let (dir2, p) = file_with("bad.json", &bad);
    let path = PathBuf::from(format!("otel:{p}"));
    let e = Dataset::open("t", &path, OnError::Fail).err().unwrap().to_string();
    assert!(e.contains("malformed span 2 (chat m): no usable `endTimeUnixNano`"), "{e}");
    assert_eq!(Dataset::open("t", &path, OnError::Skip).unwrap().skipped, 1);
    let (dir3, p) = file_with("junk.json", "{\"resourceSpans\": [1]}");
    let e = Dataset::open("t", &PathBuf::from(format!("otel:{p}")), OnError::Fail).err().unwrap().to_string();
    assert!(e.contains("junk.json:1:") && e.contains("not OTLP JSON"), "{e}");
    for d in [dir, dir2, dir3] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

mod fuzz {
    //! Whatever a trace file holds, reading it answers with rows or one error.

    use proptest::prelude::*;

    use super::*;

    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("{\"timestamp\": 5, \"input_length\": 10, \"output_length\": 2, \"hash_ids\": [1, 2]}".to_string()),
            Just("{\"timestamp\": 1e300, \"input_length\": 1e10, \"output_length\": -1, \"session_id\": 3, \"delay\": 1e308}".to_string()),
            Just("{\"session_id\": \"s\", \"input_length\": 1, \"output_length\": 1}".to_string()),
            Just("Timestamp,Model,Request tokens,Response tokens".to_string()),
            Just("TIMESTAMP,ContextTokens,GeneratedTokens".to_string()),
            Just("99999999999-12-31 23:59:60.9999999999,1,1".to_string()),
            Just("-1e308,GPT-4,5,5".to_string()),
            Just(export(&[span("t", "chat", "chat", 0, 1, (1, 1)), span("t", "chat", "chat", 5, 2, (1, 1))])),
            Just("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"t\",\"startTimeUnixNano\":\"18446744073709551615\",\"endTimeUnixNano\":18446744073709551615,\"attributes\":[{\"key\":\"gen_ai.operation.name\",\"value\":{\"stringValue\":\"chat\"}},{\"key\":\"gen_ai.usage.input_tokens\",\"value\":{\"doubleValue\":1e300}}]}]}]}]}".to_string()),
            "[ -~]{0,40}",
            Just(",".to_string()),
            Just("\u{0}\u{ff}".to_string()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn any_trace_file_is_rows_or_one_error(pieces in proptest::collection::vec(piece(), 0..8), format in 0usize..4) {
            let (dir, p) = file_with("fuzz.trace", &pieces.join("\n"));
            let format = TraceFormat::ALL[format];
            let path = PathBuf::from(format!("{}:{p}", format.as_str()));
            for on_error in [OnError::Fail, OnError::Skip] {
                if let Ok(d) = Dataset::open("t", &path, on_error) {
                    for i in 0..d.len() {
                        let row = d.row(i).unwrap().unwrap().trace.unwrap();
                        prop_assert!(row.after.iter().all(|a| *a < i));
                    }
                }
            }
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
}
