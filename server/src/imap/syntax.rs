//! The pieces of IMAP command syntax (RFC 3501 §9) that every command is
//! built from: tag, atom, quoted string, literal, astring, number, sequence
//! set. A [`Cursor`] walks one command as the framer delivered it, literals
//! inside as `{n}\r\n` followed by `n` bytes.

use std::borrow::Cow;

/// What was expected where the command went wrong (for `BAD` responses).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("syntax error at byte {at}: expected {expected}")]
pub struct SyntaxError {
    pub at: usize,
    pub expected: &'static str,
}

pub type Result<T> = std::result::Result<T, SyntaxError>;

/// RFC 3501 ATOM-CHAR: a CHAR that is no atom-special.
fn is_atom_char(b: u8) -> bool {
    (0x21..0x7f).contains(&b) && !b"(){%*\"\\]".contains(&b)
}

/// ASTRING-CHAR: ATOM-CHAR or `]`.
fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

/// list-char: ASTRING-CHAR or a LIST wildcard.
fn is_list_char(b: u8) -> bool {
    is_astring_char(b) || b == b'%' || b == b'*'
}

/// One bound of a sequence range: a number or `*` (the last message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    Number(u32),
    Last,
}

impl Bound {
    fn value(self, last: u32) -> u32 {
        match self {
            Bound::Number(n) => n,
            Bound::Last => last,
        }
    }
}

/// A sequence set: `1:4,7,9:*` (ranges in either order, RFC 3501 §9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SequenceSet(pub Vec<(Bound, Bound)>);

impl SequenceSet {
    /// Whether `n` is in the set when the highest number is `last`.
    pub fn contains(&self, n: u32, last: u32) -> bool {
        self.0.iter().any(|&(a, b)| {
            let (a, b) = (a.value(last), b.value(last));
            (a.min(b)..=a.max(b)).contains(&n)
        })
    }
}

/// A position in one command.
#[derive(Clone)]
pub struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(input: &'a [u8]) -> Cursor<'a> {
        Cursor { input, pos: 0 }
    }

    fn fail<T>(&self, expected: &'static str) -> Result<T> {
        Err(SyntaxError { at: self.pos, expected })
    }

    pub fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    pub fn at_end(&self) -> bool {
        self.pos == self.input.len()
    }

    /// Succeeds only at the end of the command.
    pub fn end(&self) -> Result<()> {
        if self.at_end() {
            Ok(())
        } else {
            self.fail("end of command")
        }
    }

    /// Skips the rest of the command (one whose arguments are not read).
    pub fn rest(&mut self) {
        self.pos = self.input.len();
    }

    /// Consumes `b` if it is next.
    pub fn eat(&mut self, b: u8) -> bool {
        let here = self.peek() == Some(b);
        self.pos += usize::from(here);
        here
    }

    pub fn expect(&mut self, b: u8, expected: &'static str) -> Result<()> {
        if self.eat(b) { Ok(()) } else { self.fail(expected) }
    }

    pub fn sp(&mut self) -> Result<()> {
        self.expect(b' ', "a space")
    }

    fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.pos += 1;
        }
        &self.input[start..self.pos]
    }

    /// A tag: ASTRING-CHARs except `+`.
    pub fn tag(&mut self) -> Result<&'a str> {
        let tag = self.take_while(|b| is_astring_char(b) && b != b'+');
        match tag {
            [] => self.fail("a tag"),
            t => Ok(std::str::from_utf8(t).expect("ASCII")),
        }
    }

    /// An atom, such as a command name or a flag keyword.
    pub fn atom(&mut self) -> Result<&'a str> {
        match self.take_while(is_atom_char) {
            [] => self.fail("an atom"),
            a => Ok(std::str::from_utf8(a).expect("ASCII")),
        }
    }

    /// A name made of letters, digits and dots, such as a FETCH item
    /// (`BODY.PEEK` in `BODY.PEEK[HEADER]`).
    pub fn name(&mut self) -> Result<&'a str> {
        match self.take_while(|b| b.is_ascii_alphanumeric() || b == b'.') {
            [] => self.fail("a name"),
            n => Ok(std::str::from_utf8(n).expect("ASCII")),
        }
    }

    /// Consumes `word` (case-insensitively) if the next atom is exactly it.
    pub fn keyword(&mut self, word: &str) -> bool {
        let start = self.pos;
        match self.atom() {
            Ok(a) if a.eq_ignore_ascii_case(word) => true,
            _ => {
                self.pos = start;
                false
            }
        }
    }

    /// A quoted string or a literal.
    pub fn string(&mut self) -> Result<Cow<'a, [u8]>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal().map(Cow::Borrowed),
            _ => self.fail("a string"),
        }
    }

    fn quoted(&mut self) -> Result<Cow<'a, [u8]>> {
        self.expect(b'"', "a quoted string")?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => out.push(c),
                        _ => return self.fail("\\\" or \\\\ after a backslash"),
                    }
                }
                Some(b'\r' | b'\n' | 0) | None => return self.fail("a closing quote"),
                Some(c) => out.push(c),
            }
            self.pos += 1;
        }
    }

    /// `{n}\r\n` or `{n+}\r\n` and its `n` bytes (also a literal8,
    /// `~{n}`, RFC 3516).
    pub fn literal(&mut self) -> Result<&'a [u8]> {
        self.eat(b'~');
        self.expect(b'{', "a literal")?;
        let size = self.number()? as usize;
        self.eat(b'+');
        self.expect(b'}', "'}'")?;
        self.expect(b'\r', "CRLF after a literal's size")?;
        self.expect(b'\n', "CRLF after a literal's size")?;
        let Some(data) = self.input.get(self.pos..self.pos + size) else {
            return self.fail("the literal's data");
        };
        self.pos += size;
        Ok(data)
    }

    /// An astring: an atom-like word (`]` allowed) or a string.
    pub fn astring(&mut self) -> Result<Cow<'a, [u8]>> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => match self.take_while(is_astring_char) {
                [] => self.fail("an atom or a string"),
                a => Ok(Cow::Borrowed(a)),
            },
        }
    }

    /// A LIST pattern: like an astring, with `%` and `*` allowed bare.
    pub fn list_mailbox(&mut self) -> Result<Cow<'a, [u8]>> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => match self.take_while(is_list_char) {
                [] => self.fail("a mailbox pattern"),
                a => Ok(Cow::Borrowed(a)),
            },
        }
    }

    /// A number (32-bit, as IMAP's `number`).
    pub fn number(&mut self) -> Result<u32> {
        let start = self.pos;
        let digits = self.take_while(|b| b.is_ascii_digit());
        match std::str::from_utf8(digits).ok().and_then(|d| d.parse().ok()) {
            Some(n) => Ok(n),
            None => {
                self.pos = start;
                self.fail("a number")
            }
        }
    }

    /// A mod-sequence value (RFC 7162: up to 63 bits).
    pub fn number64(&mut self) -> Result<u64> {
        let start = self.pos;
        let digits = self.take_while(|b| b.is_ascii_digit());
        match std::str::from_utf8(digits).ok().and_then(|d| d.parse::<u64>().ok()) {
            Some(n) if n < 1 << 63 => Ok(n),
            _ => {
                self.pos = start;
                self.fail("a mod-sequence value")
            }
        }
    }

    fn bound(&mut self) -> Result<Bound> {
        if self.eat(b'*') {
            return Ok(Bound::Last);
        }
        match self.number()? {
            0 => self.fail("a number above zero"),
            n => Ok(Bound::Number(n)),
        }
    }

    /// A sequence set (`1:4,7,9:*`).
    pub fn sequence_set(&mut self) -> Result<SequenceSet> {
        let mut ranges = Vec::new();
        loop {
            let first = self.bound()?;
            let second = if self.eat(b':') { self.bound()? } else { first };
            ranges.push((first, second));
            if !self.eat(b',') {
                return Ok(SequenceSet(ranges));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_with_every_string_form() {
        let mut c = Cursor::new(b"a001 LOGIN {5}\r\nalice \"se\\\"cr\\\\et\"");
        assert_eq!(c.tag().unwrap(), "a001");
        c.sp().unwrap();
        assert!(c.keyword("login"));
        c.sp().unwrap();
        assert_eq!(&*c.astring().unwrap(), b"alice");
        c.sp().unwrap();
        assert_eq!(&*c.astring().unwrap(), b"se\"cr\\et");
        c.end().unwrap();
    }

    #[test]
    fn astrings_and_patterns() {
        let mut c = Cursor::new(b"INBOX] ~bob/% \"\" {0}\r\n");
        assert_eq!(&*c.astring().unwrap(), b"INBOX]");
        c.sp().unwrap();
        assert_eq!(&*c.list_mailbox().unwrap(), b"~bob/%");
        c.sp().unwrap();
        assert_eq!(&*c.astring().unwrap(), b"");
        c.sp().unwrap();
        assert_eq!(&*c.astring().unwrap(), b"");
        c.end().unwrap();
    }

    #[test]
    fn wildcards_are_not_astring_chars() {
        let mut c = Cursor::new(b"~bob/%");
        assert_eq!(&*c.astring().unwrap(), b"~bob/");
        assert!(c.end().is_err());
    }

    #[test]
    fn sequence_sets() {
        let set = Cursor::new(b"1:4,7,9:*,12:10").sequence_set().unwrap();
        let members: Vec<u32> = (1..=15).filter(|&n| set.contains(n, 15)).collect();
        assert_eq!(members, [1, 2, 3, 4, 7, 9, 10, 11, 12, 13, 14, 15]);
        assert!(Cursor::new(b"*").sequence_set().unwrap().contains(3, 3));
        for bad in [&b"0"[..], b"1:", b",1", b"a", b"99999999999"] {
            assert!(
                Cursor::new(bad).sequence_set().is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn errors_say_where_and_what() {
        let mut c = Cursor::new(b"t1 SELECT \"INBOX");
        c.tag().unwrap();
        c.sp().unwrap();
        c.atom().unwrap();
        c.sp().unwrap();
        assert_eq!(
            c.astring(),
            Err(SyntaxError {
                at: 16,
                expected: "a closing quote"
            })
        );
        assert!(Cursor::new(b"+x").tag().is_err());
        assert!(Cursor::new(b"{5}\r\nab").literal().is_err());
        assert!(Cursor::new(b"\"a\\b\"").string().is_err());
        assert!(Cursor::new(b"x y").end().is_err());
    }
}
