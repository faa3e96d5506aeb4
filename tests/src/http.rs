//! A small HTTP/1.1 client for the web gateway's tests: the requests a
//! browser — or an attacker's page — would send, byte for byte.

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A response: status code, headers (lower-case names) and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The session cookie this response sets (`name=value`), if any.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .map(|(_, v)| v.split(';').next().unwrap_or_default().to_owned())
            .find(|c| c.starts_with(&format!("{}=", mailroom::http::SESSION_COOKIE)) && !c.ends_with('='))
    }
}

/// A browser's view of one server: its address and the cookie it holds.
pub struct Browser {
    pub addr: SocketAddr,
    pub cookie: Option<String>,
}

impl Browser {
    pub fn new(addr: SocketAddr) -> Browser {
        Browser { addr, cookie: None }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send("GET", path, &[], b"").await
    }

    /// A form post from one of the server's own pages.
    pub async fn post_form(&self, path: &str, form: &str) -> Response {
        let origin = format!("http://{}", self.addr);
        let headers = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", origin.as_str()),
        ];
        self.send("POST", path, &headers, form.as_bytes()).await
    }

    pub async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        let mut stream = TcpStream::connect(self.addr).await.expect("connect");
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(cookie) = &self.cookie {
            request.push_str(&format!("Cookie: {cookie}\r\n"));
        }
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        stream.write_all(body).await.expect("write body");
        let mut raw = Vec::new();
        tokio::time::timeout(crate::PATIENCE, stream.read_to_end(&mut raw))
            .await
            .unwrap_or_else(|_| panic!("no whole answer to {method} {path} in time"))
            .expect("read");
        parse(&raw)
    }

    /// A browser signed in to `server` as `user` with `password`.
    pub async fn signed_in(server: &crate::net::Server, user: &str, password: &str) -> Browser {
        let mut browser = Browser::new(server.running.http);
        browser.sign_in(user, password).await;
        browser
    }

    /// Signs in; panics unless it worked.
    pub async fn sign_in(&mut self, login: &str, password: &str) {
        let r = self
            .post_form("/login", &format!("login={login}&password={password}&next=/mail"))
            .await;
        assert_eq!(r.status, 303, "{r:?}");
        self.cookie = Some(r.session_cookie().unwrap_or_else(|| panic!("no session cookie: {r:?}")));
    }

    /// Opens the change-event stream and returns a reader positioned after
    /// the response headers.
    pub async fn events(&self) -> BufReader<TcpStream> {
        self.events_at("").await
    }

    /// The change-event stream of a page that shows `query` (`box=…&uid=…`):
    /// its user is present there while it is open.
    pub async fn events_at(&self, query: &str) -> BufReader<TcpStream> {
        let mut stream = TcpStream::connect(self.addr).await.expect("connect");
        let cookie = self.cookie.clone().unwrap_or_default();
        let request = format!(
            "GET /events?{query} HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\n\r\n",
            self.addr
        );
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        loop {
            line.clear();
            tokio::time::timeout(crate::PATIENCE, reader.read_line(&mut line))
                .await
                .expect("the event stream answers in time")
                .expect("read");
            assert!(!line.is_empty(), "the event stream closed");
            if line == "\r\n" {
                return reader;
            }
        }
    }
}

fn parse(raw: &[u8]) -> Response {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// Where a form post sent the browser back to (it must be a redirect).
pub fn location(r: &Response) -> &str {
    assert_eq!(r.status, 303, "{r:?}");
    r.header("location").expect("a redirect")
}
