//! A real MTA in front of Mailroom: Debian's Postfix (installed by
//! `scripts/install-legacy-mailers`), run as a private instance with its
//! own configuration directory, hands mail for the test domain to
//! Mailroom over LMTP (`virtual_transport = lmtp:inet:…`). A message
//! written with Postfix's `sendmail` lands in the INBOX; for an unknown
//! recipient Mailroom's `550 5.1.1` makes Postfix bounce, and the bounce
//! comes back through the same path to the sender's INBOX.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mailroom::Principal;
use mailroom_tests::net::Server;
use mailroom_tests::{Backend, World, have_program, server_test};

/// A private Postfix instance; stopped when dropped.
struct Postfix {
    dir: PathBuf,
}

impl Postfix {
    /// Writes `main.cf`/`master.cf` into `dir` and starts Postfix there.
    /// No listener of its own (`master_service_disable = inet`): mail
    /// enters through `sendmail` only.
    fn start(dir: &Path, lmtp: std::net::SocketAddr, domain: &str) -> Postfix {
        let (queue, data) = (dir.join("queue"), dir.join("data"));
        for d in [dir, &queue, &data] {
            std::fs::create_dir_all(d).unwrap();
        }
        // Postfix's daemons drop to the `postfix` user; the master keeps
        // its lock in the data directory.
        run("chmod", &["0755", dir.to_str().unwrap()]);
        run("chown", &["postfix", data.to_str().unwrap()]);
        let main_cf = format!(
            "compatibility_level = 3.6\n\
             queue_directory = {queue}\n\
             data_directory = {data}\n\
             mail_owner = postfix\n\
             setgid_group = postdrop\n\
             myhostname = mx.{domain}\n\
             mydomain = {domain}\n\
             myorigin = {domain}\n\
             mydestination =\n\
             local_recipient_maps =\n\
             alias_maps =\n\
             alias_database =\n\
             virtual_mailbox_domains = {domain}\n\
             virtual_transport = lmtp:inet:{lmtp}\n\
             inet_interfaces = loopback-only\n\
             inet_protocols = ipv4\n\
             master_service_disable = inet\n\
             maillog_file = {log}\n\
             maillog_file_prefixes = {dir}\n\
             smtputf8_enable = no\n\
             biff = no\n",
            queue = queue.display(),
            data = data.display(),
            log = dir.join("maillog").display(),
            dir = dir.display(),
        );
        std::fs::write(dir.join("main.cf"), main_cf).unwrap();
        std::fs::copy("/etc/postfix/master.cf", dir.join("master.cf")).unwrap();
        let postfix = Postfix { dir: dir.to_owned() };
        let started = Command::new("postfix")
            .args(["-c", dir.to_str().unwrap(), "start"])
            .output()
            .unwrap();
        assert!(
            started.status.success(),
            "postfix did not start: {}\n{}",
            String::from_utf8_lossy(&started.stderr),
            postfix.log()
        );
        postfix
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("maillog")).unwrap_or_default()
    }

    /// Postfix's `sendmail`, as a local program would send.
    fn sendmail(&self, from: &str, to: &[&str], message: &str) {
        use std::io::Write;
        let mut child = Command::new("sendmail")
            .args(["-C", self.dir.to_str().unwrap(), "-f", from])
            .args(to)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(message.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success(), "sendmail failed: {}", self.log());
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new("postfix")
            .args(["-c", self.dir.to_str().unwrap(), "stop"])
            .output();
    }
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program).args(args).status().unwrap();
    assert!(status.success(), "{program} {args:?} failed");
}

/// Postfix runs as root (its master starts the daemons and drops to the
/// `postfix` user). In CI that is required; elsewhere the test skips.
fn root() -> bool {
    let uid = Command::new("id").arg("-u").output().unwrap();
    let root = String::from_utf8_lossy(&uid.stdout).trim() == "0";
    if !root {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the Postfix test runs as root in CI"
        );
        eprintln!("skipped: Postfix needs root to start its own instance");
    }
    root
}

/// The raw messages in `p`'s INBOX once there are `n` of them.
async fn wait_for(server: &Server, p: &Principal, n: usize, postfix: &Postfix) -> Vec<String> {
    let started = Instant::now();
    loop {
        let (_, rows) = server.service().messages(p, "INBOX").await.unwrap();
        if rows.len() >= n {
            let uids: Vec<u32> = rows.iter().map(|r| r.uid).collect();
            let all = server.service().contents(p, "INBOX", &uids).await.unwrap();
            return all
                .into_iter()
                .map(|(_, raw)| String::from_utf8_lossy(&raw).into_owned())
                .collect();
        }
        assert!(
            started.elapsed() < 2 * mailroom_tests::PATIENCE,
            "Postfix did not deliver {n} message(s) to {}; its log:\n{}",
            p.address(),
            postfix.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

server_test!(
    postfix_hands_local_mail_to_mailroom_over_lmtp,
    |server: Server| async move {
        if !have_program("postfix") || !root() {
            return;
        }
        let alice = server.user("alice").await;
        let bob = server.user("bob").await;
        let dir = server.world.db.dir.path().join("postfix");
        let postfix = Postfix::start(&dir, server.lmtp, "example.com");

        postfix.sendmail(
            "bob@example.com",
            &["alice@example.com", "nobody@example.com"],
            "From: Bob <bob@example.com>\nTo: alice@example.com, nobody@example.com\n\
             Subject: through Postfix\n\nhello from a real MTA\n",
        );
        let inbox = wait_for(&server, &alice, 1, &postfix).await;
        assert!(inbox[0].contains("Subject: through Postfix"), "{}", inbox[0]);
        assert!(inbox[0].contains("hello from a real MTA"));
        assert!(inbox[0].contains("Received: "), "Postfix added its trace header");

        // nobody@ was refused at RCPT (550 5.1.1): Postfix bounced it, and
        // the bounce came back to bob through Mailroom too.
        let bounces = wait_for(&server, &bob, 1, &postfix).await;
        assert!(bounces[0].contains("nobody@example.com"), "{}", bounces[0]);
        assert!(bounces[0].contains("5.1.1"), "{}", bounces[0]);
        // Postfix's log daemon writes the log on its own time.
        let started = Instant::now();
        let logged = |log: &str| {
            log.contains("to=<alice@example.com>")
                && log.contains("status=sent")
                && log.contains("to=<nobody@example.com>")
                && log.contains("status=bounced")
        };
        while !logged(&postfix.log()) {
            assert!(
                started.elapsed() < mailroom_tests::PATIENCE,
                "Postfix never logged both outcomes:\n{}",
                postfix.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
);
