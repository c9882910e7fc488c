use std::io::Write;

use super::*;

pub(super) fn file_with(name: &str, content: &str) -> (PathBuf, PathBuf) {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("volley-ds-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::File::create(&p).unwrap().write_all(content.as_bytes()).unwrap();
    (dir, p)
}

#[test]
fn jsonl_prompt_and_messages() {
    let (dir, p) = file_with(
        "a.jsonl",
        "{\"prompt\": \"hi\"}\n\n{\"messages\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":\"u\"}]}\r\n",
    );
    let d = Dataset::open("a", &p, OnError::Fail).unwrap();
    assert_eq!((d.format, d.len()), (Format::Jsonl, 2));
    assert_eq!(d.row(0).unwrap().unwrap().messages[0].content, "hi");
    let r = d.row(1).unwrap().unwrap();
    assert_eq!((r.messages[1].role.as_str(), r.messages[1].content.as_str()), ("user", "u"));
    assert!(d.row(2).unwrap().is_none());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn malformed_jsonl_names_file_and_line_or_is_skipped() {
    let (dir, p) = file_with("b.jsonl", "{\"prompt\":\"ok\"}\n{\"prompt\": \n{\"other\":1}\n{\"prompt\":\"ok2\"}\n");
    let e = Dataset::open("b", &p, OnError::Fail).err().unwrap().to_string();
    assert!(e.contains("b.jsonl:2: malformed row: invalid JSON"), "{e}");
    let d = Dataset::open("b", &p, OnError::Skip).unwrap();
    assert_eq!((d.len(), d.skipped), (2, 2));
    assert_eq!(d.row(1).unwrap().unwrap().messages[0].content, "ok2");
    let (dir2, p2) = file_with("c.jsonl", "{\"prompt\":\"ok\"}\n{\"other\":1}\n");
    let e = Dataset::open("c", &p2, OnError::Fail).err().unwrap().to_string();
    assert!(e.contains("c.jsonl:2") && e.contains("no `messages`"), "{e}");
    std::fs::remove_dir_all(dir).unwrap();
    std::fs::remove_dir_all(dir2).unwrap();
}

#[test]
fn sharegpt_array() {
    let json = r#"[
      {"id": "x", "conversations": [{"from": "human", "value": "Q1 \"quoted\" ]}"}, {"from": "gpt", "value": "A1"}]},
      {"id": "y", "conversations": [{"from": "system", "value": "S"}, {"from": "human", "value": "Q2"}]}
    ]"#;
    let (dir, p) = file_with("s.json", json);
    let d = Dataset::open("s", &p, OnError::Fail).unwrap();
    assert_eq!((d.format, d.len()), (Format::ShareGpt, 2));
    let r = d.row(0).unwrap().unwrap();
    assert_eq!(r.messages[0].content, "Q1 \"quoted\" ]}");
    assert_eq!(r.messages[1].role, "assistant");
    assert_eq!(d.row(1).unwrap().unwrap().messages[0].role, "system");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn malformed_sharegpt() {
    for (content, want) in [
        ("[{\"conversations\": []}]", "s.json:1: malformed row 0: the conversation is empty"),
        ("[{\"conversations\": [{\"from\":\"human\",\"value\":\"q\"}]},\n 3]", "s.json:2: expected an object"),
        ("[{\"conversations\": [{\"from\":\"human\",\"value\":\"q\"}]}", "ends early"),
        ("{\"a\": 1}", "expected a JSON array"),
    ] {
        let (dir, p) = file_with("s.json", content);
        let e = Dataset::open("s", &p, OnError::Fail).err().unwrap().to_string();
        assert!(e.contains(want), "{content}: {e}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn text_corpus_and_grants() {
    let (dir, p) = file_with("corpus.txt", "first line\n\n  \nsecond line\n");
    let d = Dataset::open("c", &p, OnError::Fail).unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(d.row(1).unwrap().unwrap().raw, "second line");
    assert!(Dataset::parse_grant("x").is_err());
    assert!(Dataset::parse_grant("a b=/x").is_err());
    assert_eq!(Dataset::parse_grant("share-gpt=/d/x.json").unwrap().0, "share-gpt");
    let e = Dataset::open("n", Path::new("/no/such.jsonl"), OnError::Fail).err().unwrap();
    assert!(format!("{e:#}").contains("dataset 'n': cannot read dataset /no/such.jsonl: No such file or directory"), "{e:#}");
    // A FIFO or a device is refused at once (opened without blocking, checked after).
    let e = Dataset::open("z", Path::new("/dev/zero"), OnError::Fail).err().unwrap();
    assert_eq!(format!("{e:#}"), "dataset 'z': /dev/zero is a character device, not a regular file");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_folder_lists_its_media_files_in_order_and_skips_the_rest() {
    let (dir, _) = file_with("b.PNG", "png bytes");
    std::fs::write(dir.join("a.jpg"), b"jpeg").unwrap();
    std::fs::write(dir.join("notes.txt"), b"not media").unwrap();
    std::fs::write(dir.join(".hidden.png"), b"hidden").unwrap();
    let outside = file_with("secret.png", "outside the grant").1;
    std::os::unix::fs::symlink(&outside, dir.join("link.png")).unwrap();
    std::fs::create_dir(dir.join("sub.png")).unwrap();

    let d = Dataset::open("imgs", &dir, OnError::Fail).unwrap();
    assert_eq!((d.format, d.len(), d.skipped), (Format::Folder, 2, 4));
    assert_eq!(d.row(0).unwrap().unwrap().raw, "a.jpg");
    let m = d.media(1).unwrap().unwrap();
    assert_eq!((m.name.as_str(), m.mime, m.bytes.as_slice()), ("b.PNG", "image/png", &b"png bytes"[..]));
    assert!(d.media(2).unwrap().is_none());
    assert_eq!(d.info().format, "folder");

    // A link put in a listed file's place is not followed.
    std::fs::remove_file(dir.join("a.jpg")).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("a.jpg")).unwrap();
    let e = d.media(0).err().unwrap().to_string();
    assert!(e.starts_with("dataset 'imgs': ") && e.ends_with("a.jpg is a symbolic link, not a regular file"), "{e}");

    // Nor is a FIFO put in its place: refused at once, not waited on for a writer.
    std::fs::remove_file(dir.join("b.PNG")).unwrap();
    let fifo = std::ffi::CString::new(dir.join("b.PNG").into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let started = std::time::Instant::now();
    let e = d.media(1).err().unwrap().to_string();
    assert!(e.ends_with("b.PNG is a FIFO, not a regular file"), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    std::fs::remove_file(dir.join("b.PNG")).unwrap();
    std::fs::write(dir.join("b.PNG"), "png bytes").unwrap();

    // A file past the bound is refused when asked for, in one line, without reading it
    // whole (sparse: no disk is used).
    let big = std::fs::File::create(dir.join("c.png")).unwrap();
    big.set_len(folder::MAX_FILE_BYTES + 1).unwrap();
    let d = Dataset::open("imgs", &dir, OnError::Fail).unwrap();
    let e = d.media(d.len() - 1).err().unwrap().to_string();
    assert!(e.ends_with("c.png is over the 64 MiB bound for a media file") && !e.contains('\n'), "{e}");

    // A file dataset has rows, not media.
    let (file_dir, p) = file_with("t.txt", "one line\n");
    let t = Dataset::open("t", &p, OnError::Fail).unwrap();
    assert!(t.media(0).err().unwrap().to_string().contains("not a folder of media files"));
    let empty = std::env::temp_dir().join(format!("volley-ds-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let e = Dataset::open("none", &empty, OnError::Fail).err().unwrap().to_string();
    assert!(e.contains("has no media files"), "{e}");
    for d in [dir, file_dir, empty, outside.parent().unwrap().to_path_buf()] {
        std::fs::remove_dir_all(d).unwrap();
    }
}
