//! Small renderings shared by the library's messages and the CLI's output.

/// Human-readable bytes (binary units): `512 B`, `3.4 MiB`.
#[must_use]
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    #[allow(clippy::cast_precision_loss)]
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// The first 8 characters of a snapshot id, as restic shows them.
#[must_use]
pub fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// Lowercase hexadecimal of `bytes`.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The RFC 3339 form of a snapshot time, in UTC (as `status` and `diff` show times).
#[must_use]
pub fn rfc3339(time: &rustic_core::jiff::Zoned) -> String {
    time.timestamp().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
        assert_eq!(short("0123456789"), "01234567");
        assert_eq!(short("ab"), "ab");
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }
}
