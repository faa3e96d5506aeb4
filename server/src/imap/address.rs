//! RFC 5322 address lists as ENVELOPE and SEARCH need them: display
//! names (a phrase, or a comment standing in for one:
//! `user@host (Real Name)`), source routes (`<@route:user@host>`) and
//! groups (`team: a@b, c@d;, other: e@f;`, `empty:;`).
//!
//! Written here because mailparse's `addrparse` drops a comment that
//! names its address, mangles every group after the first and rejects
//! routes, and mail-parser (which handles them) needs a newer Rust than
//! this project builds with. Lenient, as a mail reader must be: what does
//! not parse is skipped, never an error.

/// One entry of an address list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Person(Address),
    /// A group's start, with its name; its members follow, then `GroupEnd`.
    GroupStart(Vec<u8>),
    GroupEnd,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Address {
    /// The display name as written (encoded words left encoded).
    pub name: Option<Vec<u8>>,
    /// An obsolete source route, `@a,@b`.
    pub route: Option<Vec<u8>>,
    pub mailbox: Vec<u8>,
    pub host: Option<Vec<u8>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    /// An atom, or a quoted string's content.
    Word(Vec<u8>),
    /// A domain literal, brackets included.
    Literal(Vec<u8>),
    Special(u8),
}

/// The tokens of a header value, and the comment last met before each
/// (a name when the address has no phrase).
struct Lexer<'a> {
    input: &'a [u8],
    at: usize,
    comment: Option<Vec<u8>>,
}

impl Lexer<'_> {
    fn skip_space(&mut self) {
        loop {
            while self.at < self.input.len() && self.input[self.at].is_ascii_whitespace() {
                self.at += 1;
            }
            if self.input.get(self.at) != Some(&b'(') {
                return;
            }
            let comment = self.read_comment();
            let comment = comment.trim_ascii();
            if !comment.is_empty() {
                self.comment = Some(comment.to_vec());
            }
        }
    }

    /// A comment, nested ones included, without its outer parentheses.
    fn read_comment(&mut self) -> Vec<u8> {
        let mut depth = 0;
        let mut text = Vec::new();
        while let Some(&b) = self.input.get(self.at) {
            self.at += 1;
            match b {
                b'\\' => {
                    if let Some(&next) = self.input.get(self.at) {
                        text.push(next);
                        self.at += 1;
                    }
                    continue;
                }
                b'(' => {
                    depth += 1;
                    if depth == 1 {
                        continue;
                    }
                }
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            text.push(b);
        }
        text
    }

    fn peek(&mut self) -> Option<Token> {
        let saved = self.at;
        let token = self.next();
        self.at = saved;
        token
    }

    fn next(&mut self) -> Option<Token> {
        self.skip_space();
        let &b = self.input.get(self.at)?;
        self.at += 1;
        match b {
            b'"' => {
                let mut text = Vec::new();
                while let Some(&c) = self.input.get(self.at) {
                    self.at += 1;
                    match c {
                        b'"' => break,
                        b'\\' => {
                            if let Some(&next) = self.input.get(self.at) {
                                text.push(next);
                                self.at += 1;
                            }
                        }
                        _ => text.push(c),
                    }
                }
                Some(Token::Word(text))
            }
            b'[' => {
                let start = self.at - 1;
                while let Some(&c) = self.input.get(self.at) {
                    self.at += 1;
                    if c == b']' {
                        break;
                    }
                }
                Some(Token::Literal(self.input[start..self.at].to_vec()))
            }
            b'<' | b'>' | b'@' | b',' | b';' | b':' | b'.' => Some(Token::Special(b)),
            _ => {
                let start = self.at - 1;
                while let Some(&c) = self.input.get(self.at) {
                    if c.is_ascii_whitespace() || b"()<>@,;:.\"[".contains(&c) {
                        break;
                    }
                    self.at += 1;
                }
                Some(Token::Word(self.input[start..self.at].to_vec()))
            }
        }
    }
}

/// Parses a header value (folding already removed or not).
pub fn parse(value: &[u8]) -> Vec<Entry> {
    let mut lexer = Lexer {
        input: value,
        at: 0,
        comment: None,
    };
    let mut out = Vec::new();
    while lexer.peek().is_some() {
        let before = lexer.at;
        entry(&mut lexer, &mut out, true);
        if lexer.at == before {
            lexer.next(); // never stuck on a stray token
        }
    }
    out
}

/// One mailbox or (when `groups`) one group; eats a following comma.
fn entry(lexer: &mut Lexer, out: &mut Vec<Entry>, groups: bool) {
    lexer.comment = None;
    // A phrase, or the local part of a bare address: words and dots.
    let mut words: Vec<Vec<u8>> = Vec::new();
    let mut local = Vec::new();
    loop {
        match lexer.peek() {
            Some(Token::Word(w)) => {
                lexer.next();
                local.extend_from_slice(&w);
                words.push(w);
            }
            Some(Token::Special(b'.')) => {
                lexer.next();
                local.push(b'.');
                if let Some(last) = words.last_mut() {
                    last.push(b'.');
                }
            }
            _ => break,
        }
    }
    let phrase = (!words.is_empty()).then(|| words.join(&b' '));
    match lexer.next() {
        Some(Token::Special(b':')) if groups => {
            out.push(Entry::GroupStart(phrase.unwrap_or_default()));
            loop {
                match lexer.peek() {
                    None => break,
                    Some(Token::Special(b';')) => {
                        lexer.next();
                        break;
                    }
                    Some(Token::Special(b',')) => {
                        lexer.next();
                    }
                    Some(_) => {
                        let before = lexer.at;
                        entry(lexer, out, false);
                        if lexer.at == before {
                            lexer.next();
                        }
                    }
                }
            }
            out.push(Entry::GroupEnd);
            if lexer.peek() == Some(Token::Special(b',')) {
                lexer.next();
            }
        }
        Some(Token::Special(b'<')) => {
            let mut address = angle_address(lexer);
            address.name = phrase;
            out.push(Entry::Person(address));
            finish(lexer);
        }
        Some(Token::Special(b'@')) => {
            let host = domain(lexer);
            // `user@host (Real Name)`: the comment names the address
            // (`domain` looked past it).
            let name = lexer.comment.take();
            out.push(Entry::Person(Address {
                name,
                route: None,
                mailbox: local,
                host: Some(host),
            }));
            finish(lexer);
        }
        Some(Token::Special(b',')) | None if !local.is_empty() => {
            out.push(Entry::Person(Address {
                name: lexer.comment.take(),
                route: None,
                mailbox: local,
                host: None,
            }));
        }
        _ => {}
    }
}

/// After an address: the comma before the next one.
fn finish(lexer: &mut Lexer) {
    if lexer.peek() == Some(Token::Special(b',')) {
        lexer.next();
    }
}

/// `<[@route,@route:]local@domain>`, the `<` already read.
fn angle_address(lexer: &mut Lexer) -> Address {
    let mut address = Address::default();
    if lexer.peek() == Some(Token::Special(b'@')) {
        let mut route = Vec::new();
        while let Some(token) = lexer.next() {
            match token {
                Token::Special(b':') | Token::Special(b'>') => break,
                Token::Special(c) => route.push(c),
                Token::Word(w) | Token::Literal(w) => route.extend_from_slice(&w),
            }
        }
        address.route = Some(route);
    }
    let mut saw_at = false;
    while let Some(token) = lexer.next() {
        match token {
            Token::Special(b'>') => break,
            Token::Special(b'@') if !saw_at => {
                saw_at = true;
                address.host = Some(Vec::new());
            }
            Token::Special(c) => match &mut address.host {
                Some(host) => host.push(c),
                None => address.mailbox.push(c),
            },
            Token::Word(w) | Token::Literal(w) => match &mut address.host {
                Some(host) => host.extend_from_slice(&w),
                None => address.mailbox.extend_from_slice(&w),
            },
        }
    }
    address
}

/// A domain: words and dots, or a literal.
fn domain(lexer: &mut Lexer) -> Vec<u8> {
    let mut host = Vec::new();
    loop {
        match lexer.peek() {
            Some(Token::Word(w)) | Some(Token::Literal(w)) => {
                lexer.next();
                host.extend_from_slice(&w);
            }
            Some(Token::Special(b'.')) => {
                lexer.next();
                host.push(b'.');
            }
            _ => return host,
        }
    }
}

/// The list written out again, as SEARCH FROM/TO/CC/BCC compare against:
/// `Name <user@host>, group: a@b;` — comments and quoting gone.
pub fn render(entries: &[Entry]) -> String {
    let mut out = String::new();
    let mut first_in_group = false;
    for entry in entries {
        match entry {
            Entry::GroupStart(name) => {
                if !out.is_empty() {
                    out.push_str(", ");
                }
                out.push_str(&decoded(name));
                out.push(':');
                first_in_group = true;
            }
            Entry::GroupEnd => out.push(';'),
            Entry::Person(a) => {
                if first_in_group {
                    out.push(' ');
                    first_in_group = false;
                } else if !out.is_empty() && !out.ends_with(':') {
                    out.push_str(", ");
                }
                let spec = match &a.host {
                    Some(host) => format!(
                        "{}@{}",
                        String::from_utf8_lossy(&a.mailbox),
                        String::from_utf8_lossy(host)
                    ),
                    None => String::from_utf8_lossy(&a.mailbox).into_owned(),
                };
                match &a.name {
                    Some(name) => out.push_str(&format!("{} <{spec}>", decoded(name))),
                    None => out.push_str(&spec),
                }
            }
        }
    }
    out
}

/// A display name with its encoded words decoded.
pub fn decoded(name: &[u8]) -> String {
    let mut header = b"X: ".to_vec();
    header.extend_from_slice(name);
    match mailparse::parse_header(&header) {
        Ok((h, _)) => h.get_value(),
        Err(_) => String::from_utf8_lossy(name).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(name: Option<&str>, mailbox: &str, host: Option<&str>) -> Entry {
        Entry::Person(Address {
            name: name.map(|n| n.as_bytes().to_vec()),
            route: None,
            mailbox: mailbox.as_bytes().to_vec(),
            host: host.map(|h| h.as_bytes().to_vec()),
        })
    }

    #[test]
    fn names_from_phrases_and_comments() {
        assert_eq!(
            parse(b"From Real <fromuser@fromdomain.org>"),
            vec![person(Some("From Real"), "fromuser", Some("fromdomain.org"))]
        );
        assert_eq!(
            parse(b"user@domain (Real Name)"),
            vec![person(Some("Real Name"), "user", Some("domain"))]
        );
        assert_eq!(
            parse(b"\"Smith, J.\" <j@x.org>, k@y.org"),
            vec![
                person(Some("Smith, J."), "j", Some("x.org")),
                person(None, "k", Some("y.org"))
            ]
        );
        assert_eq!(
            parse(b"<user-from (comment)@ (comment) domain.org>"),
            vec![person(None, "user-from", Some("domain.org"))]
        );
    }

    #[test]
    fn groups_and_routes() {
        let entries = parse(b"group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;");
        assert_eq!(
            entries,
            vec![
                Entry::GroupStart(b"group".to_vec()),
                person(None, "g1", Some("d1.org")),
                person(None, "g2", Some("d2.org")),
                Entry::GroupEnd,
                Entry::GroupStart(b"group2".to_vec()),
                person(None, "g3", Some("d3.org")),
                Entry::GroupEnd,
            ]
        );
        assert_eq!(render(&entries), "group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;");
        assert_eq!(
            parse(b"group:;, group2: (foo) ;"),
            vec![
                Entry::GroupStart(b"group".to_vec()),
                Entry::GroupEnd,
                Entry::GroupStart(b"group2".to_vec()),
                Entry::GroupEnd
            ]
        );
        let routed = parse(b"<@route:user@domain>");
        let Entry::Person(a) = &routed[0] else {
            panic!("{routed:?}")
        };
        assert_eq!(a.route.as_deref(), Some(&b"@route"[..]));
        assert_eq!(
            (a.mailbox.as_slice(), a.host.as_deref()),
            (&b"user"[..], Some(&b"domain"[..]))
        );
    }

    #[test]
    fn nothing_hostile_sticks() {
        for input in [
            &b""[..],
            b"<",
            b"@@@",
            b"a:b:c;;",
            b"(((",
            b"\"",
            b"<a@b",
            b",,,",
            b"x@",
        ] {
            let _ = render(&parse(input));
        }
        assert!(parse(b"").is_empty());
    }
}
