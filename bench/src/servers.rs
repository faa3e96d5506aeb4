//! The two servers under test, each a throwaway instance on free loopback
//! ports with the same users: Mailroom (the release binary, on its
//! embedded SQLite and on a scratch PostgreSQL database) and Debian's
//! Dovecot (a private configuration, Maildir on the same disk). Each keeps
//! its files in a temporary directory.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The mail domain both servers serve.
pub const DOMAIN: &str = "bench.test";

/// A server being measured.
pub struct Target {
    pub name: String,
    /// Mailroom (either store) rather than Dovecot: the rows only
    /// Mailroom runs (100,000 connections) skip Dovecot.
    pub mailroom: bool,
    pub imap: SocketAddr,
    pub pop3: SocketAddr,
    pub lmtp: SocketAddr,
    child: Child,
    /// Panics the server's log reported (Mailroom only).
    panics: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Target {
    /// Used by `mailroom-hostile` (the side-by-side bench reads no log).
    #[allow(dead_code)]
    pub fn panics(&self) -> usize {
        self.panics.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The accounts: `user01`… (each with its own mailbox) and `shared`
/// (the mailbox every connection of the shared-mailbox rows uses).
/// Passwords are `pw-NAME`.
pub fn users(n: usize) -> Vec<String> {
    let mut users: Vec<String> = (1..=n).map(|i| format!("user{i:02}")).collect();
    users.push("shared".into());
    users
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

fn wait_until_listening(addr: SocketAddr, what: &str) {
    let started = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what} does not listen on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run(command: &mut Command, input: &str) {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("run a command");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    assert!(child.wait().expect("wait").success(), "{command:?} failed");
}

/// Mailroom on its own data directory, on its embedded SQLite or on
/// `postgres` (the URL of an empty database), with connection limits high
/// enough for the memory rows.
pub fn start_mailroom(binary: &Path, dir: &Path, users: &[String], postgres: Option<&str>) -> Target {
    let data = dir.join(match postgres {
        Some(_) => "mailroom-postgres",
        None => "mailroom",
    });
    let mailroom = || {
        let mut command = Command::new(binary);
        command.arg("--data").arg(&data);
        if let Some(url) = postgres {
            command.arg("--database-url").arg(url);
        }
        command
    };
    let cli = |args: &[&str], input: &str| {
        run(mailroom().args(args), input);
    };
    cli(&["domain", "add", DOMAIN], "");
    for user in users {
        cli(
            &["account", "add", &format!("{user}@{DOMAIN}"), "--password-stdin"],
            &format!("pw-{user}\n"),
        );
    }
    let (imap, pop3, lmtp) = (free_port(), free_port(), free_port());
    let mut child = mailroom()
        .args(["serve", "--domain", DOMAIN, "--http", "127.0.0.1:0"])
        .args(["--imap", &imap.to_string(), "--imaps", &free_port().to_string()])
        .args(["--pop3", &pop3.to_string(), "--pop3s", &free_port().to_string()])
        .args(["--lmtp", &lmtp.to_string()])
        .args([
            "--max-connections-per-ip",
            "100000",
            "--max-sessions-per-account",
            "100000",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mailroom");
    // Keep reading what it prints, so a full pipe never stops it; its log
    // is passed on, and the panics in it counted.
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || for _ in BufReader::new(stdout).lines() {});
    let stderr = child.stderr.take().expect("stderr");
    let panics = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = panics.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("panicked") {
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            eprintln!("{line}");
        }
    });
    for addr in [imap, pop3, lmtp] {
        wait_until_listening(addr, "mailroom");
    }
    Target {
        name: match postgres {
            Some(_) => "Mailroom (PostgreSQL)".into(),
            None => "Mailroom (SQLite)".into(),
        },
        mailroom: true,
        imap,
        pop3,
        lmtp,
        child,
        panics,
    }
}

/// Dovecot with a private configuration: plaintext logins on loopback,
/// Maildir, LMTP on a TCP port, limits raised for the memory rows, the
/// mail owned by `nobody`.
pub fn start_dovecot(dir: &Path, users: &[String]) -> Target {
    let base = dir.join("dovecot");
    let mail = base.join("mail");
    std::fs::create_dir_all(&mail).expect("dovecot directories");
    // Dovecot's mail processes run as `nobody`: they must reach the mail.
    for d in [dir, base.as_path()] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let (imap, pop3, lmtp) = (free_port(), free_port(), free_port());
    let passwd: String = users
        .iter()
        .map(|u| format!("{u}:{{PLAIN}}pw-{u}:65534:65534::{}/{u}\n", mail.display()))
        .collect();
    std::fs::write(base.join("users"), passwd).expect("users file");
    Command::new("chown")
        .args(["-R", "nobody:nogroup"])
        .arg(&mail)
        .status()
        .expect("chown");
    let config = dovecot_config(&base, imap, pop3, lmtp);
    let conf = base.join("dovecot.conf");
    std::fs::write(&conf, config).expect("dovecot.conf");
    let child = Command::new("dovecot")
        .arg("-F")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .spawn()
        .expect("start dovecot (bench/install-dovecot installs it)");
    for addr in [imap, pop3, lmtp] {
        wait_until_listening(addr, "dovecot");
    }
    Target {
        name: "Dovecot".into(),
        mailroom: false,
        imap,
        pop3,
        lmtp,
        child,
        panics: Default::default(),
    }
}

fn dovecot_config(base: &Path, imap: SocketAddr, pop3: SocketAddr, lmtp: SocketAddr) -> String {
    let b = base.display();
    format!(
        r#"# Written by mailroom-bench for one run; thrown away after it.
base_dir = {b}/run
state_dir = {b}/state
log_path = {b}/dovecot.log
protocols = imap pop3 lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# LMTP looks users up as user@domain; the users file has bare names.
auth_username_format = %Ln
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_max_userip_connections = 100000
# With more IDLE sessions than inotify instances allowed per user (128 by
# default) Dovecot falls back to polling, every 30 s by default.
mailbox_idle_check_interval = 1s
default_process_limit = 20000
default_client_limit = 40000
default_vsz_limit = 1G
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {b}/users
}}
userdb {{
  driver = passwd-file
  args = {b}/users
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  service_count = 0
  process_min_avail = 2
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
  service_count = 0
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
service imap {{
  process_limit = 20000
}}
service anvil {{
  client_limit = 60000
}}
service auth {{
  client_limit = 60000
}}
protocol lmtp {{
  postmaster_address = postmaster@{domain}
}}
"#,
        imap_port = imap.port(),
        pop3_port = pop3.port(),
        lmtp_port = lmtp.port(),
        domain = DOMAIN,
    )
}

/// The memory a server's processes use, in KiB: the sum of their
/// proportional set sizes (shared pages divided among the sharers), so
/// Dovecot's many processes are not counted for the libraries they share.
pub fn memory_kib(target: &Target) -> u64 {
    let root = target.child.id();
    let parents = process_parents();
    let mut total = 0;
    for (&pid, _) in parents.iter().filter(|(pid, _)| descends_from(**pid, root, &parents)) {
        total += pss_kib(pid);
    }
    total
}

fn process_parents() -> HashMap<u32, u32> {
    let mut parents = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return parents;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(PathBuf::from("/proc").join(pid.to_string()).join("stat")) else {
            continue;
        };
        // The command name may hold spaces: the fields after its ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok());
        if let Some(ppid) = ppid {
            parents.insert(pid, ppid);
        }
    }
    parents
}

fn descends_from(mut pid: u32, root: u32, parents: &HashMap<u32, u32>) -> bool {
    for _ in 0..64 {
        if pid == root {
            return true;
        }
        match parents.get(&pid) {
            Some(&p) if p != 0 => pid = p,
            _ => return false,
        }
    }
    false
}

fn pss_kib(pid: u32) -> u64 {
    rollup_kib(pid, "Pss:")
}

/// One field of a process's `smaps_rollup`, in KiB (0 when absent).
fn rollup_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// What a target's memory is made of, for the log: its processes' PSS
/// of anonymous memory (the heap), of files (the program's code, mapped
/// databases) and of shared memory.
pub fn memory_parts(target: &Target) -> String {
    let root = target.child.id();
    let parents = process_parents();
    let mut parts = [0; 3];
    for (&pid, _) in parents.iter().filter(|(pid, _)| descends_from(**pid, root, &parents)) {
        for (part, field) in parts.iter_mut().zip(["Pss_Anon:", "Pss_File:", "Pss_Shmem:"]) {
            *part += rollup_kib(pid, field);
        }
    }
    format!(
        "anonymous {} KiB, files {} KiB, shared {} KiB",
        parts[0], parts[1], parts[2]
    )
}
