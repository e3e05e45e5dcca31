//! The standard `process_*` metrics, read from `/proc/self` at scrape time (Linux; elsewhere
//! they are simply absent). A few small file reads per scrape: no crate needed for it.

use std::sync::OnceLock;

/// Clock ticks per second for `/proc/self/stat`'s times. `sysconf(_SC_CLK_TCK)` is 100 on
/// every Linux ABI Rust targets (the kernel's USER_HZ), and reading it would need `unsafe`.
const CLK_TCK: f64 = 100.0;

/// What one read of `/proc/self` found.
#[derive(Debug, Default, PartialEq)]
pub struct Sample {
    pub cpu_seconds: f64,
    pub resident_bytes: f64,
    pub virtual_bytes: f64,
    pub threads: f64,
    pub start_time_seconds: f64,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
}

/// The `process_*` families in Prometheus text (HELP and TYPE from the family table), or
/// nothing where there is no procfs. Written here rather than through the recorder because
/// its counters are whole numbers and CPU seconds are not.
pub fn render() -> String {
    let Some(s) = sample() else {
        return String::new();
    };
    let mut out = String::new();
    let mut put = |name: &str, value: Option<f64>| {
        let (Some(v), Some(fam)) = (value, super::families::family(name)) else {
            return;
        };
        let kind = fam.kind.as_str();
        out.push_str(&format!(
            "# HELP {name} {}\n# TYPE {name} {kind}\n{name} {v}\n\n",
            fam.help
        ));
    };
    put("process_cpu_seconds_total", Some(s.cpu_seconds));
    put("process_resident_memory_bytes", Some(s.resident_bytes));
    put("process_virtual_memory_bytes", Some(s.virtual_bytes));
    put("process_threads", Some(s.threads));
    put("process_start_time_seconds", Some(s.start_time_seconds));
    put("process_open_fds", s.open_fds);
    put("process_max_fds", s.max_fds);
    out
}

fn sample() -> Option<Sample> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let mut s = parse_stat(&stat, boot_time()?)?;
    let kb = |key: &str| status_kib(&status, key).map(|k| k * 1024.0);
    s.resident_bytes = kb("VmRSS:")?;
    s.virtual_bytes = kb("VmSize:")?;
    s.open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as f64);
    s.max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| parse_max_fds(&l));
    Some(s)
}

/// `/proc/self/stat`: CPU times, threads and start time, read after the `(comm)`, which may
/// itself hold spaces and parens. `boot` is the boot time in Unix seconds.
pub fn parse_stat(stat: &str, boot: f64) -> Option<Sample> {
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field n of `man 5 proc` (from 1) is at n - 3: pid and comm come before `rest`.
    let num = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
    Some(Sample {
        cpu_seconds: (num(14)? + num(15)?) / CLK_TCK,
        threads: num(20)?,
        start_time_seconds: boot + num(22)? / CLK_TCK,
        ..Sample::default()
    })
}

/// A `Key:   123 kB` line of `/proc/self/status`, in KiB.
pub fn status_kib(status: &str, key: &str) -> Option<f64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The soft limit of `Max open files` in `/proc/self/limits`.
pub fn parse_max_fds(limits: &str) -> Option<f64> {
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Boot time (`btime` in `/proc/stat`), read once.
fn boot_time() -> Option<f64> {
    static BOOT: OnceLock<Option<f64>> = OnceLock::new();
    *BOOT.get_or_init(|| {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        stat.lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_read_after_a_command_name_with_spaces_and_parens() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        // utime stime cutime cstime priority nice num_threads itrealvalue starttime vsize rss
        let stat = "42 (my (odd) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 \
                    1000 123456789 300 18446744073709551615";
        let s = parse_stat(stat, 1_700_000_000.0).unwrap();
        assert_eq!(s.cpu_seconds, 3.0);
        assert_eq!(s.threads, 7.0);
        assert_eq!(s.start_time_seconds, 1_700_000_010.0);
        assert_eq!(
            status_kib("Name:\tx\nVmRSS:\t   2048 kB\n", "VmRSS:"),
            Some(2048.0)
        );
    }

    #[test]
    fn max_fds_is_the_soft_limit() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max cpu time              unlimited            unlimited            seconds\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(parse_max_fds(limits), Some(1024.0));
    }

    #[test]
    fn this_process_is_sampled_on_linux() {
        if cfg!(target_os = "linux") {
            let s = sample().expect("procfs readable");
            assert!(s.resident_bytes > 0.0 && s.virtual_bytes >= s.resident_bytes);
            assert!(s.threads >= 1.0 && s.start_time_seconds > 1e9);
            assert!(s.open_fds.unwrap() > 0.0 && s.max_fds.unwrap() > 0.0);
            let text = render();
            for fam in ["process_cpu_seconds_total", "process_open_fds"] {
                assert!(text.contains(&format!("# TYPE {fam} ")), "{text}");
            }
        }
    }
}
