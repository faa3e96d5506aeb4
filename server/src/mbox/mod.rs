//! The mbox format (mboxrd flavour), for `mailroom import` and `export`
//! and for INBOXes kept as mbox files shared with other programs ([`lock`]).
//!
//! Written here: the mbox crates on crates.io either only read, or do not
//! keep `>From ` quoting reversible. mboxrd is: a message starts at a line
//! `From <sender> <asctime date>` at the start of the file or after an
//! empty line; inside a message every line matching `^>*From ` gains one
//! `>` on writing and loses one on reading; the empty line before the next
//! `From ` line belongs to the file, not the message.

pub mod lock;
pub mod shared_file;

use mailroom_shared::dates::{MONTHS, WEEKDAYS, civil_from_days, days_from_civil};
use std::io::{self, Write};

/// One message of an mbox file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MboxMessage {
    /// The envelope sender of the `From ` line.
    pub sender: String,
    /// The date of the `From ` line, in Unix seconds, if it could be read.
    pub date: Option<i64>,
    /// The message, unquoted, byte for byte.
    pub content: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MboxError {
    #[error("not an mbox file: it does not start with a \"From \" line")]
    NoFromLine,
    #[error("line {0}: a \"From \" line needs a sender and a date")]
    BadFromLine(usize),
    #[error("line {0}: the message that starts here is empty")]
    EmptyMessage(usize),
    #[error("{0}")]
    Io(String),
}

fn is_from_line(line: &[u8]) -> bool {
    line.starts_with(b"From ")
}

/// Whether a body line is a quoted (or to-be-quoted) `From ` line.
fn is_quoted_from(line: &[u8]) -> bool {
    let stripped = line.iter().position(|&b| b != b'>').map_or(&[][..], |i| &line[i..]);
    stripped.starts_with(b"From ")
}

/// Splits an mbox file into messages. Calls `progress` with the number of
/// bytes read so far, now and then.
pub fn parse(data: &[u8], mut progress: impl FnMut(usize)) -> Result<Vec<MboxMessage>, MboxError> {
    let mut reader = Reader::new(data);
    let mut messages = Vec::new();
    while let Some(message) = reader.next() {
        messages.push(message?);
        if messages.len() % 256 == 0 {
            progress(reader.bytes_read() as usize);
        }
    }
    progress(data.len());
    Ok(messages)
}

/// A message's `From ` line: its sender, date and line number.
type FromLine = (String, Option<i64>, usize);

/// Reads an mbox file one message at a time, so that a file of any size
/// takes the memory of its largest message (`mailroom import` of a
/// 5 GB file).
pub struct Reader<R> {
    input: R,
    line: Vec<u8>,
    line_number: usize,
    bytes_read: u64,
    /// The `From ` line of the message to read next (sender, date, and
    /// its line number), read already.
    next: Option<Result<FromLine, MboxError>>,
    started: bool,
    failed: bool,
}

impl<R: io::BufRead> Reader<R> {
    pub fn new(input: R) -> Reader<R> {
        Reader {
            input,
            line: Vec::new(),
            line_number: 0,
            bytes_read: 0,
            next: None,
            started: false,
            failed: false,
        }
    }

    /// How many bytes of the file were read so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The next line into `self.line`; false at the end of the file.
    fn read_line(&mut self) -> Result<bool, MboxError> {
        self.line.clear();
        let n = self
            .input
            .read_until(b'\n', &mut self.line)
            .map_err(|e| MboxError::Io(e.to_string()))?;
        self.bytes_read += n as u64;
        self.line_number += 1;
        Ok(n > 0)
    }

    /// The `From ` line just read, as the start of the next message (an
    /// unreadable one fails when that message is asked for, after the
    /// message before it).
    fn take_from_line(&mut self) {
        let number = self.line_number;
        self.next = Some(
            read_from_line(&self.line)
                .map(|(sender, date)| (sender, date, number))
                .ok_or(MboxError::BadFromLine(number)),
        );
    }

    fn read_message(&mut self) -> Result<Option<MboxMessage>, MboxError> {
        if !self.started {
            self.started = true;
            if !self.read_line()? {
                return Ok(None); // an empty file holds no messages
            }
            if !is_from_line(&self.line) {
                return Err(MboxError::NoFromLine);
            }
            self.take_from_line();
        }
        let Some(next) = self.next.take() else {
            return Ok(None);
        };
        let (sender, date, number) = next?;
        let mut content = Vec::new();
        let mut previous_blank = false;
        while self.read_line()? {
            if previous_blank && is_from_line(&self.line) {
                self.take_from_line();
                break;
            }
            let line = &self.line;
            let body = if line.starts_with(b">") && is_quoted_from(line) {
                &line[1..]
            } else {
                &line[..]
            };
            content.extend_from_slice(body);
            previous_blank = line == b"\n" || line == b"\r\n";
        }
        // The empty line that separated it from the next belongs to the file.
        if content.ends_with(b"\n\n") {
            content.pop();
        } else if content.ends_with(b"\r\n\r\n") {
            content.truncate(content.len() - 2);
        }
        if content.is_empty() {
            return Err(MboxError::EmptyMessage(number));
        }
        Ok(Some(MboxMessage { sender, date, content }))
    }
}

impl<R: io::BufRead> Iterator for Reader<R> {
    type Item = Result<MboxMessage, MboxError>;

    /// The next message; after an error, nothing more.
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let read = self.read_message();
        self.failed = read.is_err();
        read.transpose()
    }
}

fn read_from_line(line: &[u8]) -> Option<(String, Option<i64>)> {
    let text = String::from_utf8_lossy(&line[5..]);
    let text = text.trim_end();
    let (sender, date) = text.split_once(' ')?;
    if sender.is_empty() || date.trim().is_empty() {
        return None;
    }
    Some((sender.to_owned(), parse_asctime(date)))
}

/// Reads `Sat Nov 28 13:53:08 2026` (a zone before the year is ignored),
/// as UTC.
pub fn parse_asctime(s: &str) -> Option<i64> {
    let words: Vec<&str> = s.split_whitespace().collect();
    let month = MONTHS.iter().position(|m| words.get(1) == Some(m))? as i64 + 1;
    let day: i64 = words.get(2)?.parse().ok()?;
    let mut hms = words.get(3)?.split(':').map(|n| n.parse::<i64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next().flatten().unwrap_or(0));
    let year: i64 = words.last()?.parse().ok()?;
    if !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec)
}

/// Formats Unix seconds as asctime in UTC: `Sat Nov 28 13:53:08 2026`.
pub fn format_asctime(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{} {} {day:>2} {:02}:{:02}:{:02} {year}",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[month as usize - 1],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Appends one message in mboxrd form.
pub fn write(out: &mut impl Write, sender: &str, date: i64, content: &[u8]) -> io::Result<()> {
    writeln!(out, "From {sender} {}", format_asctime(date))?;
    for line in content.split_inclusive(|&b| b == b'\n') {
        if is_quoted_from(line) {
            out.write_all(b">")?;
        }
        // Stored messages end their lines in CRLF; mbox files use LF.
        match line.strip_suffix(b"\r\n") {
            Some(text) => {
                out.write_all(text)?;
                out.write_all(b"\n")?;
            }
            None => out.write_all(line)?,
        }
    }
    if !content.ends_with(b"\n") {
        out.write_all(b"\n")?;
    }
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        for t in [0, 1_795_873_988, 951_782_400, 4_102_444_799] {
            assert_eq!(parse_asctime(&format_asctime(t)), Some(t), "{}", format_asctime(t));
        }
        assert_eq!(format_asctime(1_795_873_988), "Sat Nov 28 13:53:08 2026");
        assert_eq!(
            parse_asctime("Thu Nov  5 10:00:00 +0000 2026"),
            parse_asctime("Thu Nov 5 10:00:00 2026")
        );
        assert_eq!(parse_asctime("yesterday"), None);
    }

    #[test]
    fn from_lines_are_quoted_and_unquoted() {
        let content = b"Subject: x\n\nFrom here\n>From there\n>>From afar\nFromage\n";
        let mut file = Vec::new();
        write(&mut file, "a@b", 0, content).unwrap();
        assert!(file.windows(11).any(|w| w == b"\n>From here"));
        assert!(file.windows(14).any(|w| w == b"\n>>>From afar\n"));
        let parsed = parse(&file, |_| {}).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].content, content);
        assert_eq!(parsed[0].sender, "a@b");
        assert_eq!(parsed[0].date, Some(0));
    }

    #[test]
    fn several_messages_and_their_boundaries() {
        let mut file = Vec::new();
        write(&mut file, "x", 60, b"A: 1\n\nbody one\n").unwrap();
        write(&mut file, "y", 120, b"A: 2\n\nbody two\n\n").unwrap();
        write(&mut file, "z", 180, b"A: 3\n\nno newline").unwrap();
        let parsed = parse(&file, |_| {}).unwrap();
        let contents: Vec<&[u8]> = parsed.iter().map(|m| m.content.as_slice()).collect();
        assert_eq!(
            contents,
            [
                &b"A: 1\n\nbody one\n"[..],
                b"A: 2\n\nbody two\n\n",
                b"A: 3\n\nno newline\n"
            ]
        );
    }

    #[test]
    fn corrupt_files_are_refused() {
        assert_eq!(parse(b"Subject: hi\n\nbody\n", |_| {}), Err(MboxError::NoFromLine));
        assert_eq!(parse(b"From \n\nx\n", |_| {}), Err(MboxError::BadFromLine(1)));
        assert_eq!(
            parse(b"From a Sat Nov 28 13:53:08 2026\n", |_| {}),
            Err(MboxError::EmptyMessage(1))
        );
        assert_eq!(parse(b"", |_| {}), Ok(vec![]));
    }

    #[test]
    fn a_file_is_read_a_message_at_a_time() {
        let mut file = Vec::new();
        for i in 0..300 {
            write(
                &mut file,
                "x@y",
                60 * i,
                format!("N: {i}\n\nFrom the body\n").as_bytes(),
            )
            .unwrap();
        }
        // A reader that hands over a few bytes at a time, as a pipe might.
        let trickle = io::BufReader::with_capacity(7, file.as_slice());
        let mut reader = Reader::new(trickle);
        let first = reader.next().unwrap().unwrap();
        assert_eq!(first.content, b"N: 0\n\nFrom the body\n");
        assert!(
            reader.bytes_read() < 100,
            "only the first message and the next From line are read"
        );
        assert_eq!(reader.count(), 299);
        let mut broken = file.clone();
        broken.extend_from_slice(b"From \n\nx\n");
        let read: Vec<_> = Reader::new(broken.as_slice()).collect();
        assert_eq!(read.len(), 301);
        assert!(matches!(read[300], Err(MboxError::BadFromLine(_))), "{:?}", read[300]);
    }
}
