//! The load generator's machine, for the run's metadata: CPU model and counts, memory,
//! OS and kernel from `/proc`, `/sys` and `/etc/os-release` (each read bounded; a file
//! that is missing or unreadable leaves its field empty), and the GPUs NVML lists
//! ([`super::gpu::nvml_devices`]). The parsing is pure, tested on fixed texts.

use std::io::Read;

use volley_core::text::clip;
use volley_report::metadata::HostMetadata;

/// Most bytes read of one system file (`/proc/cpuinfo` of a 256-core machine: ~400 KiB).
const MAX_FILE_BYTES: u64 = 4 << 20;

/// The machine as this process sees it (blocks: NVML and file reads).
pub fn collect() -> HostMetadata {
    let read = |path: &str| -> Option<String> {
        let mut s = String::new();
        std::fs::File::open(path).ok()?.take(MAX_FILE_BYTES).read_to_string(&mut s).ok()?;
        Some(s)
    };
    let cpuinfo = read("/proc/cpuinfo").unwrap_or_default();
    let line = |path: &str| read(path).map(|s| clip(s.trim(), 128).into_owned()).filter(|s| !s.is_empty());
    let kernel = match (line("/proc/sys/kernel/ostype"), line("/proc/sys/kernel/osrelease")) {
        (Some(t), Some(r)) => Some(format!("{t} {r}")),
        (t, r) => t.or(r),
    };
    let (gpus, gpu_driver) = super::gpu::nvml_devices();
    HostMetadata {
        hostname: line("/proc/sys/kernel/hostname"),
        cpu_model: cpu_model(&cpuinfo),
        cores_available: std::thread::available_parallelism().map_or(0, |n| n.get() as u64),
        cpus_online: read("/sys/devices/system/cpu/online").and_then(|s| cpu_list_len(&s)).or_else(|| cpuinfo_processors(&cpuinfo)),
        memory_total_mib: read("/proc/meminfo").and_then(|s| mem_total_mib(&s)),
        os: read("/etc/os-release").and_then(|s| pretty_name(&s)),
        kernel,
        volley_version: env!("CARGO_PKG_VERSION").to_string(),
        gpus,
        gpu_driver,
    }
}

/// The value of `key` in a `key : value` line of `/proc/cpuinfo` or `/proc/meminfo`.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

/// `/proc/cpuinfo`'s first `model name` (x86), else `Model` or `Hardware` (Arm boards).
pub(crate) fn cpu_model(cpuinfo: &str) -> Option<String> {
    ["model name", "Model", "Hardware"]
        .iter()
        .find_map(|k| field(cpuinfo, k).filter(|v| !v.is_empty()))
        .map(|v| clip(&v.split_whitespace().collect::<Vec<_>>().join(" "), 128).into_owned())
}

/// How many `processor` entries `/proc/cpuinfo` has.
pub(crate) fn cpuinfo_processors(cpuinfo: &str) -> Option<u64> {
    let n = cpuinfo.lines().filter(|l| l.split_once(':').is_some_and(|(k, _)| k.trim() == "processor")).count() as u64;
    (n > 0).then_some(n)
}

/// The number of CPUs in a kernel CPU list (`0-3,6,8-9` → 7).
pub(crate) fn cpu_list_len(list: &str) -> Option<u64> {
    let mut n = 0u64;
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        n += match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                b.checked_sub(a)? + 1
            }
            None => {
                part.trim().parse::<u64>().ok()?;
                1
            }
        };
    }
    (n > 0).then_some(n)
}

/// `/proc/meminfo`'s `MemTotal` (kB) in MiB.
pub(crate) fn mem_total_mib(meminfo: &str) -> Option<u64> {
    let v = field(meminfo, "MemTotal")?;
    let kb: u64 = v.trim_end_matches("kB").trim().parse().ok()?;
    Some(kb / 1024)
}

/// `/etc/os-release`'s `PRETTY_NAME`, unquoted.
pub(crate) fn pretty_name(os_release: &str) -> Option<String> {
    let v = os_release.lines().find_map(|l| l.strip_prefix("PRETTY_NAME="))?.trim();
    let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
    let v = v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).unwrap_or(v);
    (!v.is_empty()).then(|| clip(v, 128).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPUINFO: &str = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13 64-Core Processor\nflags\t\t: fpu vme\n\n\
                           processor\t: 1\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13 64-Core Processor\n\n";

    #[test]
    fn cpuinfo_gives_the_model_and_count() {
        assert_eq!(cpu_model(CPUINFO).as_deref(), Some("AMD EPYC 7B13 64-Core Processor"));
        assert_eq!(cpuinfo_processors(CPUINFO), Some(2));
        let arm = "processor\t: 0\nBogoMIPS\t: 108.00\nCPU part\t: 0xd0c\n\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n";
        assert_eq!(cpu_model(arm).as_deref(), Some("Raspberry Pi 4 Model B Rev 1.4"));
        assert_eq!(cpu_model(""), None);
        assert_eq!(cpuinfo_processors("no cpus here"), None);
        // Spaces inside the name are folded, and the name is bounded.
        assert_eq!(cpu_model("model name : Intel(R)   Xeon(R)\n").as_deref(), Some("Intel(R) Xeon(R)"));
        let long = format!("model name : {}\n", "x".repeat(10_000));
        assert_eq!(cpu_model(&long).unwrap().chars().count(), 129);
    }

    #[test]
    fn cpu_lists_meminfo_and_os_release() {
        assert_eq!(cpu_list_len("0-1\n"), Some(2));
        assert_eq!(cpu_list_len("0-3,6,8-9"), Some(7));
        assert_eq!(cpu_list_len("0"), Some(1));
        assert_eq!(cpu_list_len(""), None);
        assert_eq!(cpu_list_len("3-1"), None);
        assert_eq!(cpu_list_len("a-b"), None);
        let meminfo = "MemTotal:       25165824 kB\nMemFree:         1234567 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(mem_total_mib(meminfo), Some(24 * 1024));
        assert_eq!(mem_total_mib("MemFree: 1 kB\n"), None);
        let os = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n";
        assert_eq!(pretty_name(os).as_deref(), Some("Debian GNU/Linux 12 (bookworm)"));
        assert_eq!(pretty_name("PRETTY_NAME=Alpine\n").as_deref(), Some("Alpine"));
        assert_eq!(pretty_name("PRETTY_NAME=''\nID=x\n"), None);
        assert_eq!(pretty_name("ID=x\n"), None);
    }

    #[test]
    fn this_machine_is_described() {
        let h = collect();
        assert!(h.cores_available > 0, "{h:?}");
        assert!(h.memory_total_mib.is_some_and(|m| m > 0), "{h:?}");
        assert!(!h.volley_version.is_empty());
    }
}
