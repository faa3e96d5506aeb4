//! Sizes every side agrees on: the service enforces them, IMAP advertises
//! them, the web shows them before anything is uploaded.

/// The largest message accepted, in bytes (IMAP advertises it as
/// APPENDLIMIT).
pub const MAX_MESSAGE_SIZE: usize = 50 * 1024 * 1024;

/// How many bytes of attachments fit in one message composed on the web:
/// base64 makes every 57 bytes 78 (76 characters and a line end), and the
/// text, headers and MIME boundaries get a megabyte.
pub const MAX_ATTACHMENTS_SIZE: usize = (MAX_MESSAGE_SIZE - 1024 * 1024) / 78 * 57;

/// The longest internal note on a message, in bytes.
pub const MAX_NOTE: usize = 10_000;

/// A size as people read it: "512 B", "40 KB", "36.2 MB".
pub fn human_size(n: u64) -> String {
    match n {
        0..=1023 => format!("{n} B"),
        1024..=1_048_575 => format!("{:.0} KB", n as f64 / 1024.0),
        1_048_576..=1_073_741_823 => format!("{:.1} MB", n as f64 / 1_048_576.0),
        _ => format!("{:.1} GB", n as f64 / 1_073_741_824.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_attachments_still_fit_in_a_message() {
        let encoded = MAX_ATTACHMENTS_SIZE.div_ceil(57) * 78;
        assert!(encoded + 1024 * 1024 <= MAX_MESSAGE_SIZE);
        assert_eq!(human_size(MAX_ATTACHMENTS_SIZE as u64), "35.8 MB");
        assert_eq!(human_size(900), "900 B");
        assert_eq!(human_size(40 * 1024), "40 KB");
        assert_eq!(human_size(2 << 30), "2.0 GB");
    }
}
