use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::*;

/// A fresh directory, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        static N: AtomicU32 = AtomicU32::new(0);
        let d = std::env::temp_dir().join(format!("volley-foreign-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {}", path.display());
}

#[test]
fn a_regular_file_is_read_whole() {
    let d = Dir::new();
    let p = d.0.join("run.toml");
    std::fs::write(&p, "seed = 7\n").unwrap();
    assert_eq!(read_text(&p, Kind::RUN_FILE).unwrap(), "seed = 7\n");
    let opened = open(&p, Kind::RUN_FILE).unwrap();
    assert_eq!(opened.len, 9);
}

#[test]
fn a_fifo_is_refused_at_once_without_a_writer() {
    let d = Dir::new();
    let p = d.0.join("report.json");
    mkfifo(&p);
    let t = Instant::now();
    let e = read(&p, Kind::REPORT).unwrap_err().to_string();
    // Without O_NONBLOCK the open would wait for a writer forever.
    assert!(t.elapsed() < Duration::from_secs(5), "took {:?}", t.elapsed());
    assert_eq!(e, format!("{} is a FIFO, not a regular file", p.display()));
}

#[test]
fn devices_directories_and_sockets_are_refused() {
    let e = read(Path::new("/dev/zero"), Kind::POLICY).unwrap_err().to_string();
    assert_eq!(e, "/dev/zero is a character device, not a regular file");
    let d = Dir::new();
    let e = read(&d.0, Kind::RUN_FILE).unwrap_err().to_string();
    assert!(e.ends_with("is a directory, not a regular file"), "{e}");
    let sock = d.0.join("s.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let e = read(&sock, Kind::RUN_FILE).unwrap_err().to_string();
    // Opening a socket fails (ENXIO) before fstat: either way, one line and no read.
    assert!(e.contains("is a socket, not a regular file") || e.starts_with("cannot read"), "{e}");
    assert!(!e.contains('\n'));
}

#[test]
fn a_file_past_its_bound_is_refused_by_its_size() {
    let d = Dir::new();
    let p = d.0.join("big.toml");
    // Sparse: no disk used, and nothing is read.
    std::fs::File::create(&p).unwrap().set_len(Kind::RUN_FILE.max_bytes + 1).unwrap();
    let e = read(&p, Kind::RUN_FILE).unwrap_err().to_string();
    assert_eq!(e, format!("{} is over the 1 MiB bound for a run file", p.display()));
    std::fs::File::create(&p).unwrap().set_len(Kind::RUN_FILE.max_bytes).unwrap();
    assert_eq!(read(&p, Kind::RUN_FILE).unwrap().len() as u64, Kind::RUN_FILE.max_bytes);
}

#[test]
fn a_file_that_says_it_is_empty_is_read_only_to_its_bound() {
    // /proc files report a size of 0 and then produce text: the read stops at the bound.
    let e = read(Path::new("/proc/self/maps"), Kind::new("test file", 16)).unwrap_err().to_string();
    assert_eq!(e, "/proc/self/maps is over the 16 bytes bound for a test file");
}

#[test]
fn links_are_followed_unless_the_kind_refuses_them() {
    let d = Dir::new();
    let target = d.0.join("a.png");
    std::fs::write(&target, b"\x89PNG").unwrap();
    let link = d.0.join("b.png");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert_eq!(read(&link, Kind::REPORT).unwrap(), b"\x89PNG");
    let e = read(&link, Kind::MEDIA).unwrap_err().to_string();
    assert_eq!(e, format!("{} is a symbolic link, not a regular file", link.display()));
}

#[test]
fn errors_are_one_line_and_name_the_file_printably() {
    let d = Dir::new();
    let p = d.0.join("no\nsuch\x1b[2J.json");
    let e = read(&p, Kind::REPORT).unwrap_err().to_string();
    assert!(!e.contains('\n') && !e.contains('\x1b'), "{e}");
    assert!(e.ends_with(r"no\nsuch\u{1b}[2J.json: No such file or directory"), "{e}");
    let bad = d.0.join("bad.json");
    std::fs::write(&bad, "{\"x\": \"\x1b]52;c;AAAA\x07\"").unwrap();
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct X {
        x: u32,
    }
    let e = read_json::<X>(&bad, Kind::REPORT).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{} is not a valid report: ", bad.display())), "{e}");
    assert!(!e.contains('\x1b') && !e.contains('\x07') && !e.contains('\n'), "{e}");
    std::fs::write(&bad, b"\xff\xfe").unwrap();
    assert!(read_text(&bad, Kind::RUN_FILE).unwrap_err().to_string().ends_with("is not UTF-8 text"));
}

#[test]
fn bounds_read_as_people_write_them() {
    assert_eq!(human_bytes(512 << 20), "512 MiB");
    assert_eq!(human_bytes(1 << 30), "1 GiB");
    assert_eq!(human_bytes(64 << 10), "64 KiB");
    assert_eq!(human_bytes(1000), "1000 bytes");
}

#[derive(Debug, Deserialize)]
struct Bounded {
    #[serde(deserialize_with = "bounded::vec_at_most::<_, _, 3>", default)]
    list: Vec<String>,
    #[serde(deserialize_with = "bounded::map_at_most::<_, _, _, 2>", default)]
    map: BTreeMap<String, u64>,
    #[serde(deserialize_with = "bounded::raw_at_most::<_, _, 16>", default)]
    value: serde_json::Value,
}

#[test]
fn bounded_fields_refuse_what_no_writer_makes() {
    let ok: Bounded = serde_json::from_str(r#"{"list": ["a", "", "c"], "map": {"a": 1, "b": 2}, "value": [1, [2]]}"#).unwrap();
    assert_eq!(ok.list, ["a", "", "c"]);
    assert_eq!(ok.map.len(), 2);
    assert_eq!(ok.value, serde_json::json!([1, [2]]));
    for (text, says) in [
        (r#"{"list": ["", "", "", ""]}"#, "a list of more than 3 elements"),
        (r#"{"map": {"a": 1, "a": 2, "a": 3}}"#, "a map of more than 2 entries"),
        (r#"{"value": [[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]}"#, "a value of 32 bytes, over its bound of 16"),
    ] {
        let e = serde_json::from_str::<Bounded>(text).unwrap_err().to_string();
        assert!(e.contains(says), "{text}: {e}");
    }
}
