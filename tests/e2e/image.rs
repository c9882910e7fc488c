//! The container image (deploy/Containerfile, FROM scratch): built with Debian's buildah
//! by scripts/build-image.sh, its root filesystem exported, and the binary inside run
//! with chroot as the image's non-root user — containers themselves cannot run in this
//! sandbox (it refuses rlimits and cgroups), so this is how the image is shown to work.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::support::*;

/// Every file under `root` but `skip`, with its modification time.
fn files(root: &Path, skip: &Path) -> BTreeMap<PathBuf, SystemTime> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.starts_with(skip) {
                continue;
            }
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p.clone());
            }
            out.insert(p, meta.modified().unwrap());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_builds_from_scratch_and_its_binary_runs_the_demo_as_non_root() {
    let tmp = TempDir::new("image");
    let rootfs = tmp.path().join("rootfs");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/build-image.sh").display().to_string();
    let rootfs_s = rootfs.display().to_string();
    let args = [script.as_str(), "--binary", volley_bin(), "--tag", "localhost/volley-e2e:test", "--export", &rootfs_s];
    let built = tokio::task::block_in_place(|| run_program("bash", &args, &[], Duration::from_secs(300)));
    assert!(built.status.success(), "build-image.sh: {}", built.stderr);

    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(tmp.path().join("rootfs.config.json")).unwrap()).unwrap();
    assert_eq!(config["User"], "65532:65532", "{config}");
    assert_eq!(config["Entrypoint"][0], "/usr/local/bin/volley");
    // Nothing but the binary, its libraries, the trust store and the user files.
    assert!(rootfs.join("usr/local/bin/volley").is_file());
    assert!(!rootfs.join("bin/sh").exists() && !rootfs.join("usr/bin").exists(), "no shell or tools in the image");

    let results = rootfs.join("results");
    let before = files(&rootfs, &results);
    let demo = ["--userspec=65532:65532", &rootfs_s, "/usr/local/bin/volley", "demo", "--seconds", "1", "--out", "/results/demo"];
    // As the image's own environment (deploy/Containerfile); no store of the tests': the
    // run store is then the default one, under HOME.
    let env = [("HOME", "/results"), ("VOLLEY_CACHE_DIR", "/results/.cache"), ("VOLLEY_STORE", "")];
    let o = tokio::task::block_in_place(|| {
        run_program(
            if Path::new("/usr/sbin/chroot").exists() { "/usr/sbin/chroot" } else { "chroot" },
            &demo,
            &env,
            Duration::from_secs(120),
        )
    });
    assert!(o.status.success(), "volley demo in the image: {}{}", o.stdout, o.stderr);
    let report = read_report(&results.join("demo"));
    assert!(report["stages"][0]["requests"]["ok"].as_u64().unwrap() > 0, "the demo's requests succeeded");
    assert_eq!(files(&rootfs, &results), before, "it wrote only under /results");
    assert!(results.join(".local/share/volley/runs.sqlite").is_file(), "the run is kept in the store under /results");
    let _ = run_program("buildah", &["rmi", "localhost/volley-e2e:test"], &[], Duration::from_secs(60));
}
