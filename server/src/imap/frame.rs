//! Cuts a client's byte stream into whole IMAP commands.
//!
//! No I/O: bytes go in with [`Framer::push`], events come out of
//! [`Framer::next_event`]. A command is a line ending in CRLF, except that a line
//! ending in a literal marker `{n}` or `{n+}` (RFC 3501 §4.3, RFC 7888) is
//! followed by `n` bytes of data and then more of the command. For a
//! synchronizing `{n}` the server must invite the data first
//! ([`Event::Continue`], sent as `+ …`); a non-synchronizing `{n+}` is sent
//! at once.
//!
//! Limits: each line (outside literals) and each literal have a maximum.
//! A too-long line is skipped up to its end; a too-large literal is
//! refused, and its bytes, if the client sends them anyway (`{n+}`), are
//! read and dropped, never taken for a command. An announced size beyond
//! all reason asks the gateway to close the connection.
//!
//! Written here: imap-codec decodes whole messages only and has no ACL
//! commands, so the gateway frames commands itself.

/// Sizes the framer accepts.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The longest line, without literals and CRLF.
    pub max_line: usize,
    /// The largest literal (APPENDLIMIT).
    pub max_literal: usize,
    /// The most one command may hold, lines and literals together: what
    /// one command can make a session keep in memory (MULTIAPPEND and
    /// CATENATE send several literals in one command).
    pub max_command: usize,
}

impl Limits {
    /// The limits for a client that has not logged in: LOGIN and
    /// AUTHENTICATE need a short line and a password-sized literal, and
    /// nobody should make the server hold megabytes before saying who
    /// they are.
    pub const BEFORE_LOGIN: Limits = Limits {
        max_line: crate::limits::BEFORE_LOGIN_LINE,
        max_literal: crate::limits::BEFORE_LOGIN_LITERAL,
        max_command: crate::limits::BEFORE_LOGIN_COMMAND,
    };
}

/// What the framer found.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A whole command, without its final CRLF; literals are inside it,
    /// each after its `{n}\r\n` marker.
    Command(Vec<u8>),
    /// The client announced a synchronizing literal: answer `+ …` so it
    /// sends the data.
    Continue,
    /// A line longer than [`Limits::max_line`]; it was skipped. `tag` is
    /// the command's tag, when it could be read.
    LineTooLong { tag: Option<String> },
    /// A literal larger than [`Limits::max_literal`]; the command was
    /// dropped (and the literal's bytes with it).
    LiteralTooLarge { tag: Option<String>, size: u64 },
    /// The client announced a literal so large that reading past it is
    /// not worth it: close the connection.
    Close,
}

/// Past this multiple of the literal limit, the framer gives up on a
/// non-synchronizing literal instead of reading it to drop it.
const DISCARD_FACTOR: u64 = 4;

#[derive(Debug)]
enum State {
    /// Reading a line of the command, which has `command.len()` bytes so far.
    Line,
    /// Reading `remaining` bytes of a literal into the command.
    Literal { remaining: usize },
    /// Dropping the rest of a too-long line.
    SkipLine,
    /// Dropping `remaining` bytes of a refused literal.
    SkipLiteral { remaining: u64 },
}

/// Room made in the input buffer before each read.
const READ_SPACE: usize = 4096;

/// The framer of one connection.
#[derive(Debug)]
pub struct Framer {
    limits: Limits,
    /// Received and not yet consumed.
    input: Vec<u8>,
    /// How much of `input` is known to hold no CRLF, so a slow client
    /// sending a long line byte by byte is not rescanned from its start.
    scanned: usize,
    /// The command being assembled.
    command: Vec<u8>,
    /// Where the current line starts in `command`.
    line_start: usize,
    state: State,
}

impl Framer {
    pub fn new(limits: Limits) -> Framer {
        Framer {
            limits,
            input: Vec::new(),
            scanned: 0,
            command: Vec::new(),
            line_start: 0,
            state: State::Line,
        }
    }

    /// The limits from the next command on (a login changes them).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Adds bytes as if read from the connection.
    #[cfg(test)]
    pub fn push(&mut self, data: &[u8]) {
        self.input.extend_from_slice(data);
    }

    /// The buffer to read from the connection into (with room for at
    /// least a few KiB; it grows only while more is kept unconsumed).
    pub fn input_space(&mut self) -> &mut Vec<u8> {
        self.input.reserve(READ_SPACE);
        &mut self.input
    }

    /// Frees the read buffer when everything read was taken: a session
    /// waiting for its client's next command (most of them, most of the
    /// time) then holds none. Returns whether it was.
    pub fn release_input(&mut self) -> bool {
        // Not in the middle of a literal: its bytes keep coming.
        if self.input.is_empty() && matches!(self.state, State::Line) {
            self.input = Vec::new();
            return true;
        }
        false
    }

    /// The next event, or `None` when more input is needed.
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            match self.state {
                State::Line => return self.read_line(),
                State::Literal { remaining } => {
                    let take = remaining.min(self.input.len());
                    self.command.extend_from_slice(&self.input[..take]);
                    self.consume(take);
                    if take < remaining {
                        self.state = State::Literal {
                            remaining: remaining - take,
                        };
                        return None;
                    }
                    self.line_start = self.command.len();
                    self.state = State::Line;
                }
                State::SkipLine => {
                    let Some(end) = self.find_line_end() else {
                        let keep = usize::from(self.input.last() == Some(&b'\r'));
                        self.consume(self.input.len() - keep);
                        return None;
                    };
                    self.consume(end + 2);
                    self.state = State::Line;
                }
                State::SkipLiteral { remaining } => {
                    let take = remaining.min(self.input.len() as u64) as usize;
                    self.consume(take);
                    if (take as u64) < remaining {
                        self.state = State::SkipLiteral {
                            remaining: remaining - take as u64,
                        };
                        return None;
                    }
                    // The refused command may go on after its literal: its
                    // rest is dropped with it.
                    self.state = State::SkipLine;
                }
            }
        }
    }

    /// Reads up to the end of a line of the command, and says what the line
    /// asks for.
    fn read_line(&mut self) -> Option<Event> {
        let line_len = self.command.len() - self.line_start;
        let Some(end) = self.find_line_end() else {
            if line_len + self.input.len() > self.limits.max_line + 1 {
                return Some(self.line_too_long(State::SkipLine));
            }
            return None;
        };
        if line_len + end > self.limits.max_line || self.command.len() + end > self.limits.max_command {
            let event = self.line_too_long(State::Line);
            self.consume(end + 2);
            return Some(event);
        }
        self.command.extend_from_slice(&self.input[..end]);
        self.consume(end + 2);
        let Some(literal) = literal_marker(&self.command[self.line_start..]) else {
            self.line_start = 0;
            self.state = State::Line;
            return Some(Event::Command(std::mem::take(&mut self.command)));
        };
        self.command.extend_from_slice(b"\r\n");
        let command_size = self.command.len() as u64 + literal.size;
        if literal.size > self.limits.max_literal as u64 || command_size > self.limits.max_command as u64 {
            let tag = self.tag();
            self.reset();
            if !literal.synchronizing {
                if literal.size > self.limits.max_literal as u64 * DISCARD_FACTOR {
                    return Some(Event::Close);
                }
                self.state = State::SkipLiteral {
                    remaining: literal.size,
                };
            }
            return Some(Event::LiteralTooLarge {
                tag,
                size: literal.size,
            });
        }
        self.state = State::Literal {
            remaining: literal.size as usize,
        };
        if literal.synchronizing && (self.input.len() as u64) < literal.size {
            return Some(Event::Continue);
        }
        self.next_event()
    }

    fn line_too_long(&mut self, then: State) -> Event {
        let tag = self.tag().or_else(|| tag_of(&self.input));
        self.reset();
        self.state = then;
        Event::LineTooLong { tag }
    }

    /// Where the next CRLF in the input starts, resuming the search where
    /// the last one stopped.
    fn find_line_end(&mut self) -> Option<usize> {
        let from = self.scanned.saturating_sub(1);
        match find_crlf(&self.input[from..]) {
            Some(at) => Some(from + at),
            None => {
                self.scanned = self.input.len();
                None
            }
        }
    }

    /// Drops `n` bytes from the front of the input.
    fn consume(&mut self, n: usize) {
        self.input.drain(..n);
        self.scanned = 0;
    }

    fn reset(&mut self) {
        self.command.clear();
        self.line_start = 0;
        self.state = State::Line;
    }

    fn tag(&self) -> Option<String> {
        tag_of(&self.command)
    }
}

fn find_crlf(data: &[u8]) -> Option<usize> {
    data.windows(2).position(|w| w == b"\r\n")
}

/// The tag of a command: its first word, if it is a valid one.
fn tag_of(command: &[u8]) -> Option<String> {
    let end = command.iter().position(|&b| b == b' ')?;
    let tag = &command[..end];
    let valid =
        !tag.is_empty() && tag.len() <= 64 && tag.iter().all(|&b| b.is_ascii_graphic() && !b"(){%*\"\\+".contains(&b));
    valid.then(|| String::from_utf8_lossy(tag).into_owned())
}

struct Literal {
    size: u64,
    synchronizing: bool,
}

/// A `{n}`, `{n+}` or `~{n}` (literal8) marker at the end of a line.
fn literal_marker(line: &[u8]) -> Option<Literal> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let (digits, synchronizing) = match inner[open + 1..].strip_suffix(b"+") {
        Some(d) => (d, false),
        None => (&inner[open + 1..], true),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let size = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(Literal { size, synchronizing })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_line: 100,
        max_literal: 50,
        max_command: 200,
    };

    /// Feeds `input` in chunks of `chunk` bytes and collects every event.
    fn events(input: &[u8], chunk: usize) -> Vec<Event> {
        let mut framer = Framer::new(LIMITS);
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            framer.push(piece);
            while let Some(event) = framer.next_event() {
                out.push(event);
            }
        }
        out
    }

    /// The same events whatever the chunk size (the `Continue` invitation
    /// is only due when the data has not arrived with the marker).
    fn same_in_every_chunking(input: &[u8], expected: &[Event]) {
        for chunk in [1, 2, 3, 4, 7, 8, 16, 32, 64, 128, 256, 512] {
            let got: Vec<Event> = events(input, chunk)
                .into_iter()
                .filter(|e| *e != Event::Continue)
                .collect();
            assert_eq!(got, expected, "chunks of {chunk}");
        }
    }

    fn command(s: &[u8]) -> Event {
        Event::Command(s.to_vec())
    }

    #[test]
    fn plain_commands() {
        same_in_every_chunking(
            b"a1 NOOP\r\na2 LOGIN alice secret\r\n",
            &[command(b"a1 NOOP"), command(b"a2 LOGIN alice secret")],
        );
    }

    #[test]
    fn literals_stay_inside_the_command() {
        let input = b"a3 LOGIN {5}\r\nalice {6+}\r\nse\r\nrt\r\na4 NOOP\r\n";
        same_in_every_chunking(
            input,
            &[command(b"a3 LOGIN {5}\r\nalice {6+}\r\nse\r\nrt"), command(b"a4 NOOP")],
        );
    }

    #[test]
    fn a_synchronizing_literal_is_invited_once() {
        let mut framer = Framer::new(LIMITS);
        framer.push(b"a APPEND INBOX {11}\r\n");
        assert_eq!(framer.next_event(), Some(Event::Continue));
        assert_eq!(framer.next_event(), None);
        framer.push(b"Hello");
        assert_eq!(framer.next_event(), None);
        framer.push(b" world\r\n");
        assert_eq!(
            framer.next_event(),
            Some(command(b"a APPEND INBOX {11}\r\nHello world"))
        );
        framer.push(b"b APPEND INBOX {2+}\r\n");
        assert_eq!(framer.next_event(), None, "no invitation for LITERAL+");
    }

    #[test]
    fn a_literal_may_hold_crlf_and_braces() {
        same_in_every_chunking(
            b"x APPEND INBOX {9}\r\n{3}\r\nab\r\n\r\n",
            &[command(b"x APPEND INBOX {9}\r\n{3}\r\nab\r\n")],
        );
    }

    #[test]
    fn too_long_lines_are_skipped_and_reported_once() {
        let mut input = b"t1 NOOP ".to_vec();
        input.extend(vec![b'x'; 1_000_000]);
        input.extend(b"\r\nt2 NOOP\r\n");
        same_in_every_chunking(
            &input,
            &[Event::LineTooLong { tag: Some("t1".into()) }, command(b"t2 NOOP")],
        );
        let exactly = [b"t3 ".as_slice(), &[b'y'; 97], b"\r\n"].concat();
        same_in_every_chunking(&exactly, &[command(&exactly[..100])]);
    }

    #[test]
    fn a_too_large_synchronizing_literal_drops_the_command() {
        same_in_every_chunking(
            b"big APPEND INBOX {51}\r\nok NOOP\r\n",
            &[
                Event::LiteralTooLarge {
                    tag: Some("big".into()),
                    size: 51,
                },
                command(b"ok NOOP"),
            ],
        );
    }

    #[test]
    fn a_too_large_non_synchronizing_literal_is_read_and_dropped() {
        let mut exact = b"big APPEND INBOX {60+}\r\n".to_vec();
        exact.extend(vec![b'Z'; 60]);
        exact.extend(b" more\r\nok NOOP\r\n");
        same_in_every_chunking(
            &exact,
            &[
                Event::LiteralTooLarge {
                    tag: Some("big".into()),
                    size: 60,
                },
                command(b"ok NOOP"),
            ],
        );
    }

    #[test]
    fn an_absurd_literal_closes_the_connection() {
        same_in_every_chunking(b"x APPEND INBOX {99999999999999+}\r\n", &[Event::Close]);
        same_in_every_chunking(
            b"x APPEND INBOX {99999999999999}\r\ny NOOP\r\n",
            &[
                Event::LiteralTooLarge {
                    tag: Some("x".into()),
                    size: 99_999_999_999_999,
                },
                command(b"y NOOP"),
            ],
        );
    }

    #[test]
    fn many_literals_in_one_command_are_capped_together() {
        // Each literal is under the literal limit (50); the four of them
        // and their lines are over the command's (200).
        let mut input = b"m APPEND INBOX {45+}\r\n".to_vec();
        for _ in 0..3 {
            input.extend([b'x'; 45]);
            input.extend(b" {45+}\r\n");
        }
        input.extend([b'x'; 45]);
        input.extend(b"\r\nok NOOP\r\n");
        same_in_every_chunking(
            &input,
            &[
                Event::LiteralTooLarge {
                    tag: Some("m".into()),
                    size: 45,
                },
                command(b"ok NOOP"),
            ],
        );
    }

    #[test]
    fn things_that_only_look_like_literals() {
        same_in_every_chunking(
            b"a SEARCH SUBJECT {x}\r\nb SEARCH {}\r\nc X {12a}\r\n",
            &[
                command(b"a SEARCH SUBJECT {x}"),
                command(b"b SEARCH {}"),
                command(b"c X {12a}"),
            ],
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200 {
            let bytes: Vec<u8> = (0..300)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    b"{}+\r\n a0123456789"[(seed % 17) as usize]
                })
                .collect();
            for chunk in [1, 5, 300] {
                events(&bytes, chunk);
            }
        }
    }
}
