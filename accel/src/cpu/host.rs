//! Describes the host CPU for `device list`, from /proc.

use crate::{DeviceInfo, Target};

/// The host CPU as device 0 of the `cpu` target.
pub(super) fn describe() -> DeviceInfo {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |key: &str| {
        cpuinfo
            .lines()
            .find(|l| l.split(':').next().map(str::trim) == Some(key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let name = field("model name")
        .or_else(|| field("Model"))
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let vendor = field("vendor_id")
        .or_else(|| field("CPU implementer"))
        .unwrap_or_else(|| "unknown".to_string());
    DeviceInfo {
        target: Target::Cpu,
        index: 0,
        name: format!("{name} ({cores} cores)"),
        vendor,
        memory_bytes: mem_total_bytes().unwrap_or(0),
        ..DeviceInfo::new(Target::Cpu, 0, "")
    }
}

fn mem_total_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
