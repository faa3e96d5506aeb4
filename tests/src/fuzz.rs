//! Fuzzing on stable Rust: inputs a hostile client or a hostile file
//! could hold, made at random (half of them from the protocols' own words,
//! so they reach past the first syntax check), fed to the parsers that
//! face the network and the shared mbox files, and to the real server's
//! IMAP, POP3 and LMTP sessions over sockets. Used by `tests/fuzz.rs`
//! (a few seconds in every test run) and by `bench/fuzz` (as long as it
//! is given, with the server's memory watched).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use mailroom::imap::frame::{Event, Framer, Limits};

/// Panics seen anywhere in this process since [`count_panics`] was
/// called: a session task that panics is caught by Tokio and would go
/// unnoticed otherwise.
static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts every panic of the process from now on (and still prints it).
pub fn count_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

pub fn panics() -> usize {
    PANICS.load(Ordering::SeqCst)
}

/// Words of IMAP commands.
pub const IMAP: &[&str] = &[
    "LOGIN",
    "SELECT",
    "EXAMINE",
    "FETCH",
    "UID",
    "STORE",
    "SEARCH",
    "SORT",
    "THREAD",
    "COPY",
    "MOVE",
    "APPEND",
    "LIST",
    "LSUB",
    "STATUS",
    "CREATE",
    "DELETE",
    "RENAME",
    "SUBSCRIBE",
    "GETACL",
    "SETACL",
    "MYRIGHTS",
    "IDLE",
    "DONE",
    "NOOP",
    "CHECK",
    "CLOSE",
    "EXPUNGE",
    "ENABLE",
    "NOTIFY",
    "ID",
    "NAMESPACE",
    "CAPABILITY",
    "ESEARCH",
    "INBOX",
    "BODY",
    "BODY.PEEK",
    "BINARY",
    "BINARY.PEEK",
    "BINARY.SIZE",
    "ENVELOPE",
    "BODYSTRUCTURE",
    "FLAGS",
    "RFC822",
    "RFC822.SIZE",
    "RFC822.HEADER",
    "INTERNALDATE",
    "MODSEQ",
    "CHANGEDSINCE",
    "VANISHED",
    "HEADER",
    "HEADER.FIELDS",
    "HEADER.FIELDS.NOT",
    "TEXT",
    "MIME",
    "ALL",
    "FAST",
    "FULL",
    "OR",
    "NOT",
    "FROM",
    "TO",
    "SUBJECT",
    "SINCE",
    "BEFORE",
    "ON",
    "SENTON",
    "LARGER",
    "SMALLER",
    "KEYWORD",
    "RETURN",
    "MIN",
    "MAX",
    "COUNT",
    "PARTIAL",
    "UPDATE",
    "CONTEXT",
    "CONDSTORE",
    "QRESYNC",
    "REFERENCES",
    "ORDEREDSUBJECT",
    "UTF-8",
    "+FLAGS",
    "-FLAGS",
    "FLAGS.SILENT",
    "\\Seen",
    "\\Deleted",
    "\\Flagged",
    "$Junk",
    "CATENATE",
    "URL",
    "1",
    "2",
    "*",
    "1:*",
    "2:4",
    "0",
    "4294967295",
    "99999999999",
    "1,3:5",
    "17-Jul-1996",
    "~alice/INBOX",
    "\"\"",
    "\"a b\"",
    "NIL",
    "()",
    "(",
    ")",
    "[",
    "]",
    "<0.10>",
    "<",
    ">",
    "{5}",
    "{0+}",
    "~{3}",
    "%",
    "&Jjo-",
    "&",
    "é",
    "\u{0}",
    "\\",
    "\"",
];

/// Words of POP3 commands.
pub const POP3: &[&str] = &[
    "USER",
    "PASS",
    "APOP",
    "AUTH",
    "PLAIN",
    "STAT",
    "LIST",
    "UIDL",
    "RETR",
    "TOP",
    "DELE",
    "RSET",
    "NOOP",
    "CAPA",
    "STLS",
    "QUIT",
    "1",
    "2",
    "0",
    "-1",
    "99999999999",
    "=",
    "*",
];

/// Words of LMTP commands.
pub const LMTP: &[&str] = &[
    "LHLO",
    "EHLO",
    "HELO",
    "MAIL",
    "FROM:",
    "RCPT",
    "TO:",
    "DATA",
    "RSET",
    "NOOP",
    "VRFY",
    "QUIT",
    "BDAT",
    "<alice@example.com>",
    "<>",
    "<@route:x@y>",
    "SIZE=999999999999",
    "BODY=8BITMIME",
    "SMTPUTF8",
    "<ü@é>",
];

/// A command line: words of the protocol and random bytes, mixed.
pub fn command_line(rng: &mut StdRng, words: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    let n = rng.random_range(0..12);
    for i in 0..n {
        if i > 0 && rng.random_bool(0.9) {
            out.push(b' ');
        }
        match rng.random_range(0..10) {
            0 => out.extend((0..rng.random_range(1..8)).map(|_| rng.random::<u8>())),
            1 => out.extend(rng.random_range(0..u64::MAX).to_string().bytes()),
            _ => out.extend_from_slice(words[rng.random_range(0..words.len())].as_bytes()),
        }
    }
    out
}

/// A message-like text: headers of the kinds the parsers read (with
/// encoded words, groups, odd dates), perhaps a MIME tree, and noise.
pub fn message(rng: &mut StdRng) -> Vec<u8> {
    const HEADERS: &[&str] = &[
        "From: \"A, B\" <a@b.example>",
        "From: user@domain (Real Name)",
        "To: group: a@b, c@d;, g2: e@f;",
        "Cc: <@route:user@domain>",
        "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= =?iso-8859-1?b?4eHh?=",
        "Subject: =?x-unknown?q?=FF=FE?=",
        "Date: Mon, 2 Nov 2026 10:00:00 +0100",
        "Date: 99 Foo 99999 99:99:99 é123",
        "Message-ID: <1@x>",
        "In-Reply-To: <1@x> <2@x>",
        "References: <a@x> <b@x> <<<",
        "Content-Type: multipart/mixed; boundary=\"b\"",
        "Content-Type: multipart/alternative; boundary=",
        "Content-Type: message/rfc822",
        "Content-Type: text/plain; charset=utf-16",
        "Content-Transfer-Encoding: base64",
        "Content-Transfer-Encoding: quoted-printable",
        "Content-Disposition: attachment; filename*=utf-8''%E2%82%AC.txt",
    ];
    const BODIES: &[&str] = &[
        "--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n",
        "--b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nx\r\n--b--",
        "=E2=82=AC=\r\n=ZZ",
        "aGVsbG8=\r\n!!!",
        "From nobody Mon Jan  1 00:00:00 2026\r\n>From quoted\r\n",
        "\r\n.\r\n..\r\n",
    ];
    let mut out = Vec::new();
    for _ in 0..rng.random_range(0..8) {
        out.extend_from_slice(HEADERS[rng.random_range(0..HEADERS.len())].as_bytes());
        out.extend_from_slice(if rng.random_bool(0.9) { b"\r\n" } else { b"\n " });
    }
    out.extend_from_slice(b"\r\n");
    for _ in 0..rng.random_range(0..4) {
        match rng.random_range(0..4) {
            0 => out.extend((0..rng.random_range(0..64)).map(|_| rng.random::<u8>())),
            _ => out.extend_from_slice(BODIES[rng.random_range(0..BODIES.len())].as_bytes()),
        }
    }
    out
}

/// Runs `data` through the IMAP framer in chunks of `chunk` bytes and
/// parses every command it frames: nothing may panic.
pub fn imap_frames(data: &[u8], chunk: usize) {
    let mut framer = Framer::new(Limits {
        max_line: 1024,
        max_literal: 512,
        max_command: 4096,
    });
    for piece in data.chunks(chunk.max(1)) {
        framer.input_space().extend_from_slice(piece);
        while let Some(event) = framer.next_event() {
            if let Event::Command(command) = event {
                let _ = mailroom::imap::command::parse(&command);
            }
        }
    }
}

/// Runs a message through everything IMAP and the mbox code read of one.
pub fn message_parsers(raw: &[u8]) {
    use mailroom::imap::mime;
    let _ = mime::envelope(raw);
    let _ = mime::body_structure(raw, true);
    let _ = mime::body_structure(raw, false);
    let _ = mime::searchable(raw);
    for part in [&[][..], &[1], &[1, 1], &[2, 1, 3]] {
        let _ = mime::binary(raw, part);
    }
    for spec in [
        "",
        "1",
        "HEADER",
        "TEXT",
        "1.MIME",
        "1.HEADER",
        "2.1.TEXT",
        "HEADER.FIELDS (FROM TO)",
    ] {
        if let Some(section) = mailroom::imap::command::parse_section(spec) {
            let _ = mime::section(raw, &section);
        }
    }
    let _ = mailroom::imap::address::parse(raw);
    let _ = mailroom::imap::utf7::decode(raw);
    let _ = mailroom::mbox::parse(raw, |_| {});
    let entries = mailroom::mbox::shared_file::parse(raw);
    for entry in entries.iter().take(4) {
        let _ = mailroom::mbox::shared_file::with_flags(raw, entry, &Default::default());
    }
    let _ = mailroom::message::facts(raw, Some("a@b"), &["c@d".to_owned()]);
}

/// What a session fuzz saw.
#[derive(Debug, Default)]
pub struct SessionTally {
    pub commands: usize,
    pub answers: usize,
}

/// Sends `rounds` random command lines on one connection, reading what
/// comes back as it goes (a little at a time, so a slow reader is tried
/// too), then hangs up. The connection may be closed by the server at
/// any point (a refused literal, too many errors): that is an answer too.
pub async fn session(
    addr: std::net::SocketAddr,
    login: &[u8],
    words: &[&str],
    rng: &mut StdRng,
    rounds: usize,
) -> SessionTally {
    let mut tally = SessionTally::default();
    let Ok(stream) = TcpStream::connect(addr).await else {
        return tally;
    };
    let mut io = BufReader::new(stream);
    let mut line = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), io.read_until(b'\n', &mut line)).await;
    if io.get_mut().write_all(login).await.is_err() {
        return tally;
    }
    for _ in 0..rounds {
        let mut command = command_line(rng, words);
        if rng.random_bool(0.05) {
            let body = message(rng);
            command.extend(format!(" {{{}+}}\r\n", body.len()).bytes());
            command.extend(body);
        }
        command.extend_from_slice(b"\r\n");
        if io.get_mut().write_all(&command).await.is_err() {
            break;
        }
        tally.commands += 1;
        let mut buf = [0u8; 4096];
        match tokio::time::timeout(Duration::from_millis(20), io.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(_)) => tally.answers += 1,
            Err(_) => {}
        }
    }
    tally
}

/// A fresh random source, seeded from the clock unless `seed` is given;
/// the seed is printed so a failure can be replayed.
pub fn rng(seed: Option<u64>) -> (StdRng, u64) {
    let seed = seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    (StdRng::seed_from_u64(seed), seed)
}
