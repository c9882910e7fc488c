//! `volley kube render`: the manifests of a sharded run, parsed back into k8s-openapi's
//! typed structs (no Kubernetes API server runs here) and checked where it matters: an
//! Indexed Job of N shards with one start instant, locked-down pods, a NetworkPolicy
//! that reaches only the target, the run file in a ConfigMap, a merge Job.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use volley_kube::k8s_openapi::api::batch::v1::Job;
use volley_kube::k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, PodSpec};
use volley_kube::k8s_openapi::api::networking::v1::NetworkPolicy;

use crate::support::*;

fn render(args: &[&str]) -> Output {
    let mut all = vec!["kube", "render"];
    all.extend_from_slice(args);
    run_volley(&all, Duration::from_secs(30))
}

fn item<T: serde::de::DeserializeOwned>(list: &serde_json::Value, kind: &str, name: &str) -> T {
    let v = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == kind && i["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"));
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{kind} {name} does not parse: {e}"))
}

fn assert_locked_down(pod: &PodSpec, what: &str) {
    assert_eq!(pod.automount_service_account_token, Some(false), "{what}: no service-account token");
    let psc = pod.security_context.as_ref().unwrap();
    assert_eq!((psc.run_as_non_root, psc.run_as_user), (Some(true), Some(65532)), "{what}");
    let c = &pod.containers[0];
    let sc = c.security_context.as_ref().unwrap();
    assert_eq!(sc.read_only_root_filesystem, Some(true), "{what}");
    assert_eq!(sc.allow_privilege_escalation, Some(false), "{what}");
    assert_eq!(sc.capabilities.as_ref().unwrap().drop.as_deref(), Some(&["ALL".to_string()][..]), "{what}");
    // The only writable places are volumes.
    let mounts: Vec<_> = c.volume_mounts.as_ref().unwrap().iter().map(|m| (m.mount_path.as_str(), m.read_only)).collect();
    assert!(mounts.contains(&("/results", Some(false))), "{what}: {mounts:?}");
}

#[test]
fn rendered_manifests_parse_into_typed_structs_with_the_security_fields_set() {
    let tmp = TempDir::new("kube");
    let config = tmp.path().join("run.toml");
    let scenario = tmp.path().join("probe.wasm");
    std::fs::write(&scenario, b"\0asm not really, but bytes to carry").unwrap();
    std::fs::write(
        &config,
        "scenario = \"probe.wasm\"\ntarget = \"http://10.0.0.7:8000\"\nseed = 3\nthreshold = [\"ttft_ms.p99<500\"]\n[params]\nrate = 40\n",
    )
    .unwrap();
    let out = tmp.path().join("manifests.json");
    let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let (config_s, out_s) = (config.display().to_string(), out.display().to_string());
    render(&[
        "--config",
        &config_s,
        "--shards",
        "4",
        "--name",
        "bench",
        "--image",
        "registry.example/volley@sha256:abc",
        "--start-in-s",
        "90",
        "--out",
        &out_s,
    ])
    .assert_success();
    let list: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(list["kind"], "List");

    let job: Job = item(&list, "Job", "bench-shards");
    let spec = job.spec.unwrap();
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
    assert_eq!((spec.completions, spec.parallelism), (Some(4), Some(4)));
    let pod = spec.template.spec.unwrap();
    assert_locked_down(&pod, "shard pods");
    let c = &pod.containers[0];
    assert_eq!(c.image.as_deref(), Some("registry.example/volley@sha256:abc"));
    let args = c.args.clone().unwrap();
    let at: u64 = args[args.iter().position(|a| a == "--start-at").unwrap() + 1].parse().unwrap();
    assert!(at >= before + 89_000 && at <= before + 120_000, "start-at fixed at render time, 90 s ahead: {at}");
    assert!(args.windows(2).any(|w| w == ["--shard", "auto"]), "{args:?}");
    let env = c.env.clone().unwrap();
    assert!(env.iter().any(|e| e.name == "VOLLEY_SHARDS" && e.value.as_deref() == Some("4")), "the count for --shard auto");

    // The run file, its scenario carried beside it and pinned by digest.
    let cm: ConfigMap = item(&list, "ConfigMap", "bench-config");
    let run: toml::Table = cm.data.as_ref().unwrap()["run.toml"].parse().unwrap();
    // Named beside the run file (/config/run.toml), as a run file names its files.
    assert_eq!(run["scenario"].as_str(), Some("probe.wasm"));
    assert!(run["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(run["seed"].as_integer(), Some(3));
    assert_eq!(cm.binary_data.as_ref().unwrap()["probe.wasm"].0, std::fs::read(&scenario).unwrap());

    // Egress to the target only; nothing comes in.
    let np: NetworkPolicy = item(&list, "NetworkPolicy", "bench-egress");
    let nps = np.spec.unwrap();
    assert_eq!(nps.policy_types.as_deref(), Some(&["Ingress".to_string(), "Egress".to_string()][..]));
    assert_eq!(nps.ingress.as_deref().map(<[_]>::len), Some(0));
    let egress = nps.egress.unwrap();
    assert_eq!(egress.len(), 1, "an IP target needs no DNS: {egress:?}");
    assert_eq!(egress[0].to.as_ref().unwrap()[0].ip_block.as_ref().unwrap().cidr, "10.0.0.7/32");
    assert_eq!(serde_json::to_value(&egress[0].ports.as_ref().unwrap()[0].port).unwrap(), 8000);

    let _pvc: PersistentVolumeClaim = item(&list, "PersistentVolumeClaim", "bench-results");
    let merge: Job = item(&list, "Job", "bench-merge");
    let merge_pod = merge.spec.unwrap().template.spec.unwrap();
    assert_locked_down(&merge_pod, "merge pod");
    let margs = merge_pod.containers[0].args.clone().unwrap();
    assert_eq!(margs[0], "merge");
    assert_eq!(margs.iter().filter(|a| a.starts_with("/results/shard-")).count(), 4);
}

#[test]
fn what_cannot_be_pinned_or_fenced_is_refused_in_one_line() {
    let tmp = TempDir::new("kube-refuse");
    for (toml, more, says) in [
        ("scenario = \"oci://r.example/s:latest\"\ntarget = \"http://10.0.0.7:8000\"\n", &[][..], "is not pinned"),
        ("scenario = \"builtin:chat-poisson\"\ntarget = \"http://vllm.svc:8000\"\n", &[][..], "--egress-cidr CIDR or --target-pods"),
        ("scenario = \"builtin:chat-poisson\"\ntarget = \"http://10.0.0.7\"\nshard = \"0/2\"\n", &[][..], "the manifests set it"),
        ("scenario = \"builtin:chat-poisson\"\ntarget = \"http://10.0.0.7\"\n", &["--name", "Bad_Name"][..], "must be a DNS label"),
    ] {
        let config = tmp.path().join("run.toml");
        std::fs::write(&config, toml).unwrap();
        let c = config.display().to_string();
        let mut args = vec!["--config", c.as_str(), "--shards", "2"];
        args.extend_from_slice(more);
        let o = render(&args);
        assert_eq!(o.status.code(), Some(1), "{toml}");
        assert!(o.stderr.contains(says) && o.stderr.trim().lines().count() == 1, "{says}: {}", o.stderr);
    }
    // A named target with its pods given: allowed, with DNS.
    let config = tmp.path().join("run.toml");
    std::fs::write(&config, "scenario = \"builtin:chat-poisson\"\ntarget = \"http://vllm.svc:8000\"\n").unwrap();
    let c = config.display().to_string();
    let o = render(&["--config", &c, "--shards", "2", "--target-pods", "app=vllm"]);
    o.assert_success();
    let list: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    let np: NetworkPolicy = item(&list, "NetworkPolicy", "volley-egress");
    let egress = np.spec.unwrap().egress.unwrap();
    assert_eq!(egress.len(), 2, "the target's pods and DNS");
}

#[test]
fn the_merge_keeps_the_run_in_the_team_store_named_by_a_secret_and_reaches_only_it() {
    let tmp = TempDir::new("kube-store");
    let config = tmp.path().join("run.toml");
    std::fs::write(&config, "scenario = \"builtin:chat-poisson\"\ntarget = \"http://10.0.0.7:8000\"\n").unwrap();
    let config_s = config.display().to_string();
    let base = ["--config", &config_s, "--shards", "3", "--name", "bench", "--image", "volley@sha256:00"];
    let with_store = |more: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(more);
        render(&args)
    };
    let o = with_store(&["--store-secret", "bench-store", "--store-endpoint", "10.0.0.9:5432"]);
    o.assert_success();
    assert!(!o.stdout.contains("postgres://"), "no store URL in the manifests");
    let list: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();

    // Shards keep nothing; the merge keeps the run, its URL from the Secret.
    let shards: Job = item(&list, "Job", "bench-shards");
    let sargs = shards.spec.unwrap().template.spec.unwrap().containers[0].args.clone().unwrap();
    assert!(sargs.contains(&"--no-store".to_string()), "{sargs:?}");
    let merge: Job = item(&list, "Job", "bench-merge");
    let merge_pod = merge.spec.unwrap().template.spec.unwrap();
    assert_locked_down(&merge_pod, "merge pod");
    let c = &merge_pod.containers[0];
    let margs = c.args.clone().unwrap();
    let policy = c.env.as_ref().unwrap().iter().find(|e| e.name == "VOLLEY_POLICY").expect("the merge runs under its own policy");
    assert_eq!(policy.value.as_deref(), Some("/config/merge-policy.toml"));
    // What the merge pod runs is a command line `volley` takes.
    let dry = run_volley(&margs.iter().map(String::as_str).chain(["--help"]).collect::<Vec<_>>(), Duration::from_secs(30));
    dry.assert_success();
    let env = c.env.as_ref().unwrap().iter().find(|e| e.name == "VOLLEY_STORE").expect("VOLLEY_STORE");
    assert!(env.value.is_none(), "the URL is never in the manifest");
    let secret = env.value_from.as_ref().unwrap().secret_key_ref.as_ref().unwrap();
    assert_eq!((secret.name.as_str(), secret.key.as_str()), ("bench-store", "url"));
    assert!(c.volume_mounts.as_ref().unwrap().iter().any(|m| m.mount_path == "/config"), "the policy is mounted");

    // That policy lets the merge reach the store and nothing else.
    let cm: ConfigMap = item(&list, "ConfigMap", "bench-config");
    let policy = volley::core::Policy::from_toml(&cm.data.unwrap()["merge-policy.toml"]).unwrap();
    let egress = volley::net::Egress::new(std::sync::Arc::new(policy));
    assert!(egress.check_url(volley::net::Kind::Export, "http://10.0.0.9:5432").is_ok());
    assert!(egress.check_url(volley::net::Kind::Export, "http://10.0.0.10:5432").is_err());

    // A NetworkPolicy of its own opens the store to the merge pod alone.
    let np: NetworkPolicy = item(&list, "NetworkPolicy", "bench-store-egress");
    let nps = np.spec.unwrap();
    assert_eq!(nps.pod_selector.unwrap().match_labels.unwrap()["volley.dev/role"], "merge");
    let rule = &nps.egress.unwrap()[0];
    assert_eq!(rule.to.as_ref().unwrap()[0].ip_block.as_ref().unwrap().cidr, "10.0.0.9/32");
    assert_eq!(serde_json::to_value(&rule.ports.as_ref().unwrap()[0].port).unwrap(), 5432);

    // Without a team store, the merged run lands in a SQLite file on the results volume.
    let o = with_store(&[]);
    o.assert_success();
    let list: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    let merge: Job = item(&list, "Job", "bench-merge");
    let margs = merge.spec.unwrap().template.spec.unwrap().containers[0].args.clone().unwrap();
    assert!(margs.windows(2).any(|w| w[0] == "--store" && w[1] == "/results/runs.sqlite"), "{margs:?}");
    assert!(list["items"].as_array().unwrap().iter().all(|i| i["metadata"]["name"] != "bench-store-egress"));

    // A named store must say where it is; an endpoint alone is not a store.
    let o = with_store(&["--store-secret", "bench-store", "--store-endpoint", "pg.db.svc:5432"]);
    assert_eq!(o.error_lines().len(), 1, "{}", o.stderr);
    assert!(o.stderr.contains("--store-cidr"), "{}", o.stderr);
    let o = with_store(&["--store-endpoint", "10.0.0.9:5432"]);
    assert!(!o.status.success() && o.stderr.contains("--store-secret"), "{}", o.stderr);
}
