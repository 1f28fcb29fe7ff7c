//! Small formatting helpers shared by the commands.

/// Formats a byte count for people (`1.5 MiB`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}

/// Formats seconds since the epoch as `YYYY-MM-DD HH:MM` (UTC), as `tar -tv` does.
pub fn timestamp(secs: u64) -> String {
    let t = oci_core::time::format_rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs));
    format!("{} {}", &t[..10], &t[11..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(timestamp(0), "1970-01-01 00:00");
        assert_eq!(timestamp(1_705_449_600 + 3_660), "2024-01-17 01:01");
    }
}
