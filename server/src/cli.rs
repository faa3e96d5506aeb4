//! The `mailroom` command line.

use std::io::{IsTerminal, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use mailroom_shared::rules::{RuleSpec, Scope};

use crate::error::{Error, Result};
use crate::gateway::tls;
use crate::mbox;
use crate::service::Incoming;
use crate::service::{Bootstrap, Principal, Service, random_password};

#[derive(Parser, Debug)]
#[command(
    name = "mailroom",
    version,
    about = "Shared mail: webmail with IMAP and POP3 gateways"
)]
pub struct Cli {
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct DatabaseArgs {
    /// Data directory (holds the embedded SQLite database).
    #[arg(long, global = true, env = "MAILROOM_DATA", default_value = "data")]
    pub data: PathBuf,
    /// Use this database instead (postgres://user@host/db or sqlite:path).
    #[arg(long, global = true, env = "MAILROOM_DATABASE_URL")]
    pub database_url: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Manage domains.
    #[command(subcommand)]
    Domain(DomainCommand),
    /// Manage accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Manage account aliases.
    #[command(subcommand)]
    Alias(AliasCommand),
    /// Manage routing rules.
    #[command(subcommand)]
    Route(RouteCommand),
    /// Manage mailboxes (e.g. public ones).
    #[command(subcommand)]
    Mailbox(MailboxCommand),
    /// Manage automated rules for incoming mail.
    #[command(subcommand)]
    Rule(RuleCommand),
    /// Deliver a message read from standard input.
    Deliver {
        /// Envelope sender.
        #[arg(long)]
        from: Option<String>,
        /// Recipient addresses (aliases and routing rules apply).
        #[arg(long, required = true, num_args = 1..)]
        to: Vec<String>,
    },
    /// Import an mbox file into a mailbox (created if missing).
    Import {
        /// The account (`name` or `name@domain`).
        address: String,
        /// The mailbox in that account, e.g. INBOX or Archive/2025.
        mailbox: String,
        file: PathBuf,
    },
    /// Write a mailbox as an mbox file to standard output.
    Export { address: String, mailbox: String },
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Web interface address (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,
    /// Domain to create on an empty database.
    #[arg(long, default_value = "localhost")]
    pub domain: String,
    /// Password for admin@DOMAIN on an empty database (else generated).
    #[arg(long, env = "MAILROOM_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Also create demo users, messages and shared mailboxes.
    #[arg(long)]
    pub demo: bool,
    /// Where the browser code is (the `pkg/` that scripts/build-web makes).
    #[arg(long, env = "MAILROOM_SITE_ROOT")]
    pub site_root: Option<PathBuf>,
    /// IMAP address (plain, with STARTTLS).
    #[arg(long, default_value = "127.0.0.1:1143")]
    pub imap: SocketAddr,
    /// IMAP over implicit TLS address.
    #[arg(long, default_value = "127.0.0.1:1993")]
    pub imaps: SocketAddr,
    /// POP3 address (plain, with STLS).
    #[arg(long, default_value = "127.0.0.1:1110")]
    pub pop3: SocketAddr,
    /// POP3 over implicit TLS address.
    #[arg(long, default_value = "127.0.0.1:1995")]
    pub pop3s: SocketAddr,
    /// LMTP address, where an MTA hands mail over ("off" to disable).
    #[arg(long, default_value = "127.0.0.1:1024")]
    pub lmtp: String,
    /// Send web mail for other servers through this SMTP relay:
    /// `smtp://host:25`, `smtp://user:password@host:587?tls=required`
    /// (STARTTLS and AUTH), `smtps://host:465`.
    #[arg(long, env = "MAILROOM_RELAY", value_name = "URL")]
    pub relay: Option<String>,
    /// Load balancers in front of Mailroom (`10.0.0.0/8,192.0.2.7`):
    /// their IMAP, POP3 and LMTP connections start with a PROXY header
    /// (v1 or v2) and their web requests carry X-Forwarded-For, naming
    /// the real client for connection limits and login lock-outs.
    #[arg(long, value_name = "NETWORKS", default_value = "")]
    pub trusted_proxy: crate::gateway::TrustedProxies,
    /// A directory where the web's administrators may keep a domain's
    /// INBOX files (repeat for several; none by default: only the
    /// command line may then make INBOXes external).
    #[arg(long, value_name = "DIR")]
    pub external_inbox_root: Vec<PathBuf>,
    /// Also take LMTP on this Unix socket (for a local Postfix).
    #[arg(long, value_name = "PATH")]
    pub lmtp_socket: Option<PathBuf>,
    /// POP3 RETR leaves messages unread (by default it marks them \Seen).
    #[arg(long)]
    pub pop3_keep_unseen: bool,
    /// TLS certificate chain (PEM); without it a self-signed one is made
    /// in DATA/tls on first start.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Refuse logins before TLS (IMAP advertises LOGINDISABLED).
    #[arg(long)]
    pub require_tls: bool,
    /// Connections allowed at once from one client address.
    #[arg(long, default_value_t = 100)]
    pub max_connections_per_ip: usize,
    /// Sessions allowed at once per account.
    #[arg(long, default_value_t = 50)]
    pub max_sessions_per_account: usize,
    /// Name for the self-signed certificate.
    #[arg(long, default_value = "localhost")]
    pub hostname: String,
    /// IMAP SEARCH BODY, TEXT, FROM, TO and SUBJECT in a mailbox of
    /// this many messages or more match whole words from the search
    /// index; in smaller ones they read every message and match
    /// substrings.
    #[arg(long, value_name = "MESSAGES", default_value_t = crate::imap::INDEXED_SEARCH_FROM)]
    pub imap_indexed_search_from: usize,
}

#[derive(Subcommand, Debug)]
pub enum DomainCommand {
    /// Add a domain (and its `public` account).
    Add {
        name: String,
        /// Other names of the domain.
        #[arg(long = "alias")]
        aliases: Vec<String>,
        #[command(flatten)]
        external: ExternalInboxArgs,
    },
    /// Change where a domain's INBOXes live.
    Set {
        name: String,
        #[command(flatten)]
        external: ExternalInboxArgs,
        /// Keep the INBOXes in Mailroom's store again.
        #[arg(long, conflicts_with = "external_inbox")]
        internal_inbox: bool,
    },
    /// Limit the mail all the domain's accounts hold together: `10G`,
    /// `500M`, or `none`.
    Quota {
        name: String,
        size: String,
    },
    /// How many days the activity trail of the domain's shared mailboxes
    /// is kept (90 unless set; 1 to 3650).
    ActivityDays {
        name: String,
        days: i64,
    },
    List,
}

/// Where a domain keeps its INBOXes, when outside Mailroom.
#[derive(clap::Args, Debug, Default)]
pub struct ExternalInboxArgs {
    /// Keep each account's INBOX in an mbox file shared with other
    /// programs: a path with `{user}`, such as `/var/mail/{user}`.
    #[arg(long, value_name = "TEMPLATE")]
    pub external_inbox: Option<String>,
    /// The file locks to take, in order (`fcntl`, `flock`, `dotlock`;
    /// default `fcntl,dotlock`, as Debian's mutt and procmail).
    #[arg(long, value_name = "METHODS")]
    pub locks: Option<String>,
    /// Seconds to wait for another program's lock (default 10).
    #[arg(long, value_name = "SECONDS")]
    pub lock_timeout: Option<u64>,
}

#[derive(Subcommand, Debug)]
pub enum AccountCommand {
    /// Add an account; its password is generated and shown unless given.
    Add {
        address: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Make it a server administrator.
        #[arg(long)]
        admin: bool,
        /// Keep its INBOX in a file, where its domain keeps INBOX files
        /// (for legacy mailers; see `domain set --external-inbox`).
        #[arg(long)]
        external_inbox: bool,
    },
    /// Keep an account's INBOX in its domain's file (`file`) or in
    /// Mailroom's store (`store`).
    Inbox {
        address: String,
        #[arg(value_parser = ["file", "store"])]
        place: String,
    },
    /// Delete an account and all its mail.
    Delete {
        address: String,
    },
    /// Set an account's password (generated and shown unless given).
    Passwd {
        address: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Limit the mail an account holds: `1G`, `500M`, or `none`.
    Quota {
        address: String,
        size: String,
    },
    List,
}

#[derive(Subcommand, Debug)]
pub enum AliasCommand {
    /// Make ALIAS another name for the account ADDRESS.
    Add { alias: String, address: String },
}

#[derive(Subcommand, Debug)]
pub enum RouteCommand {
    /// Rewrite addresses matching PATTERN (one `*` allowed) to TARGET.
    Add {
        pattern: String,
        target: String,
        #[arg(long, default_value_t = 100)]
        priority: i64,
    },
}

#[derive(Subcommand, Debug)]
pub enum RuleCommand {
    /// Add a rule; rules run at delivery, the server's first, then the
    /// domain's, then the account's, each by priority (lowest first).
    Add {
        #[command(flatten)]
        scope: RuleScope,
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = 100)]
        priority: i64,
        /// Any condition suffices (default: all must hold).
        #[arg(long)]
        any: bool,
        /// A condition: FIELD TEST VALUE, FIELD one of sender, recipient,
        /// subject, header NAME, size; TEST one of contains, is, matches
        /// (wildcards * and ?), over, under (sizes: 100K, 2M).
        #[arg(long = "if", value_name = "CONDITION")]
        conditions: Vec<String>,
        /// An action: fileinto MAILBOX, copy MAILBOX, flag FLAG,
        /// redirect ADDRESS, discard, stop.
        #[arg(long = "then", value_name = "ACTION", required = true)]
        actions: Vec<String>,
    },
    /// List the rules of a scope.
    List {
        #[command(flatten)]
        scope: RuleScope,
    },
    /// Delete a rule by its id (as `rule list` shows it).
    Delete { id: i64 },
}

/// Which rules: the server's, a domain's or an account's.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct RuleScope {
    /// The rules for mail to every account.
    #[arg(long)]
    server: bool,
    /// The rules for mail to a domain's accounts.
    #[arg(long)]
    domain: Option<String>,
    /// The rules for mail to one account.
    #[arg(long)]
    account: Option<String>,
}

impl RuleScope {
    fn scope(self) -> Scope {
        match (self.domain, self.account) {
            (Some(d), _) => Scope::Domain(d),
            (_, Some(a)) => Scope::Account(a),
            _ => Scope::Server,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum MailboxCommand {
    /// Create a mailbox in an account, with access rights.
    Create {
        /// Mailbox path in the owner's account, e.g. Support/Archive.
        name: String,
        /// The owning account (`public` for public mailboxes).
        #[arg(long)]
        owner: String,
        /// An ACL entry IDENTIFIER=RIGHTS, e.g. anyone=lrs or carol=lrswipkxtea.
        #[arg(long = "grant", value_name = "IDENTIFIER=RIGHTS")]
        grants: Vec<String>,
    },
    /// List an account's mailboxes.
    List { owner: String },
}

/// Calls `on_idle` when this thread last did more than
/// [`IDLE_EVERY`] ago: a worker parks many times a second under load.
fn idle_now(on_idle: fn()) {
    use std::cell::Cell;
    use std::time::Instant;
    thread_local! {
        static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
    }
    LAST.with(|last| {
        if last.get().is_none_or(|at| at.elapsed() >= IDLE_EVERY) {
            last.set(Some(Instant::now()));
            on_idle();
        }
    });
}

/// How often a worker thread's idle moment runs `on_idle` at most.
const IDLE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs the command line; the exit code says whether it worked.
/// `on_idle` runs on a worker thread that has nothing to do (at most
/// every few seconds on each): the allocator's chance to give back what
/// the thread freed.
pub fn main(on_idle: fn()) -> ExitCode {
    let cli = Cli::parse();
    init_logging(matches!(cli.command, Command::Serve(_)));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(move || idle_now(on_idle))
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mailroom: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mailroom: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(serving: bool) {
    let default = if serving { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn open_service(db: &DatabaseArgs) -> Result<Service> {
    match &db.database_url {
        Some(url) => Service::connect(url).await,
        None => Service::open_data_dir(&db.data).await,
    }
}

async fn run(cli: Cli) -> Result<()> {
    let service = open_service(&cli.db).await?;
    if let Command::Serve(args) = cli.command {
        return serve(service, *args, &cli.db.data).await;
    }
    let system = Principal::system(&service.primary_domain().await?);
    match cli.command {
        Command::Serve(_) => unreachable!("handled above"),
        Command::Domain(c) => domain(&service, &system, c).await,
        Command::Account(c) => account(&service, &system, c).await,
        Command::Alias(AliasCommand::Add { alias, address }) => {
            service.add_alias(&system, &alias, &address).await?;
            println!(
                "{alias} now reaches {}",
                service.find_account(&system, &address).await?.address()
            );
            Ok(())
        }
        Command::Route(RouteCommand::Add {
            pattern,
            target,
            priority,
        }) => {
            service.add_routing_rule(&system, &pattern, &target, priority).await?;
            println!("{pattern} -> {target}");
            Ok(())
        }
        Command::Mailbox(c) => mailbox(&service, &system, c).await,
        Command::Rule(c) => rule(&service, &system, c).await,
        Command::Deliver { from, to } => deliver(&service, from.as_deref(), &to).await,
        Command::Import { address, mailbox, file } => import(&service, &system, &address, &mailbox, &file).await,
        Command::Export { address, mailbox } => export(&service, &system, &address, &mailbox).await,
    }
}

async fn serve(service: Service, args: ServeArgs, data: &Path) -> Result<()> {
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => tls::Source::Files { cert, key },
        _ => tls::Source::SelfSigned {
            dir: data.join("tls"),
            hostname: args.hostname.clone(),
        },
    };
    let defaults = crate::serve::Options::default();
    let options = crate::serve::Options {
        http: args.http,
        domain: args.domain,
        // An empty MAILROOM_ADMIN_PASSWORD means "not set", as shells write it.
        admin_password: args.admin_password.filter(|pw| !pw.is_empty()),
        demo: args.demo,
        imap: Some(args.imap),
        imaps: Some(args.imaps),
        tls: Some(tls),
        imap_config: crate::imap::Config {
            require_tls: args.require_tls,
            indexed_search_from: args.imap_indexed_search_from,
            ..defaults.imap_config.clone()
        },
        pop3: Some(args.pop3),
        pop3s: Some(args.pop3s),
        pop3_config: crate::pop3::Config {
            retr_sets_seen: !args.pop3_keep_unseen,
            require_tls: args.require_tls,
            ..defaults.pop3_config.clone()
        },
        lmtp: parse_optional_addr(&args.lmtp).map_err(Error::BadInput)?,
        lmtp_socket: args.lmtp_socket,
        relay: args.relay,
        external_inbox_roots: args.external_inbox_root,
        trusted_proxies: args.trusted_proxy,
        lmtp_config: crate::lmtp::Config {
            hostname: args.hostname,
            ..defaults.lmtp_config.clone()
        },
        connections_per_ip: args.max_connections_per_ip,
        connections_per_account: args.max_sessions_per_account,
        site_root: args.site_root.unwrap_or(defaults.site_root.clone()),
        ..defaults
    };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let running = crate::serve::start(service, options, shutdown).await?;
    if let Bootstrap::Created {
        admin,
        generated_password,
    } = &running.bootstrap
    {
        match generated_password {
            Some(pw) => {
                println!("Created server administrator {admin} with password {pw} (shown only now)")
            }
            None => println!("Created server administrator {admin}"),
        }
    }
    for (address, password) in &running.demo_accounts {
        println!("Demo account {address}, password {password}");
    }
    println!("Mailroom is running. Web: http://{}/", running.http);
    if let (Some(imap), Some(imaps)) = (running.imap, running.imaps) {
        println!("IMAP: {imap} (STARTTLS), IMAPS: {imaps} (implicit TLS)");
    }
    if let (Some(pop3), Some(pop3s)) = (running.pop3, running.pop3s) {
        println!("POP3: {pop3} (STLS), POP3S: {pop3s} (implicit TLS)");
    }
    if let Some(lmtp) = running.lmtp {
        println!("LMTP: {lmtp}");
    }
    println!("Stop it with Ctrl-C.");
    let _ = std::io::stdout().flush();
    match running.task.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Error::BadInput(format!("web server stopped: {e}"))),
        Err(e) => Err(Error::BadInput(format!("web server crashed: {e}"))),
    }
}

async fn domain(service: &Service, system: &Principal, command: DomainCommand) -> Result<()> {
    match command {
        DomainCommand::Add {
            name,
            aliases,
            external,
        } => {
            let d = service.add_domain(system, &name, &aliases).await?;
            println!("Added domain {} (with its public account)", d.name);
            if external.external_inbox.is_some() {
                set_external(service, system, &name, external).await?;
            }
        }
        DomainCommand::Set {
            name,
            external,
            internal_inbox,
        } => {
            if internal_inbox {
                service.set_external_inbox(system, &name, None).await?;
                println!("{name}: INBOXes are kept by Mailroom");
            } else {
                set_external(service, system, &name, external).await?;
            }
        }
        DomainCommand::Quota { name, size } => {
            let bytes = crate::service::parse_size(&size).map_err(Error::BadInput)?;
            service.set_domain_quota(system, &name, bytes).await?;
            println!("{}", quota_said(&name, bytes));
        }
        DomainCommand::ActivityDays { name, days } => {
            service.set_activity_days(system, &name, days).await?;
            println!("{name} keeps the activity of its shared mailboxes {days} days");
        }
        DomainCommand::List => {
            for d in service.domains(system).await? {
                match &d.external_inbox {
                    Some(t) => println!(
                        "{} (INBOXes in {t}, locks {})",
                        d.name,
                        d.lock_methods.as_deref().unwrap_or("fcntl,dotlock")
                    ),
                    None => println!("{}", d.name),
                }
            }
        }
    }
    Ok(())
}

async fn set_external(service: &Service, system: &Principal, domain: &str, args: ExternalInboxArgs) -> Result<()> {
    let Some(template) = args.external_inbox else {
        return Err(Error::BadInput("say where: --external-inbox /var/mail/{user}".into()));
    };
    let settings = crate::service::ExternalInbox {
        template,
        locks: args.locks,
        lock_timeout: args.lock_timeout,
    };
    service.set_external_inbox(system, domain, Some(&settings)).await?;
    println!("{domain}: INBOXes in {}", settings.template);
    Ok(())
}

/// An address, or `off`.
fn parse_optional_addr(s: &str) -> std::result::Result<Option<SocketAddr>, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|e| format!("{s:?}: {e}"))
}

/// The password from standard input's first line, or a generated one.
fn password(from_stdin: bool) -> Result<(String, bool)> {
    if !from_stdin {
        return Ok((random_password(), true));
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Error::BadInput(format!("cannot read the password: {e}")))?;
    Ok((line.trim_end_matches(['\r', '\n']).to_owned(), false))
}

async fn account(service: &Service, system: &Principal, command: AccountCommand) -> Result<()> {
    match command {
        AccountCommand::Add {
            address,
            password_stdin,
            admin,
            external_inbox,
        } => {
            let (pw, generated) = password(password_stdin)?;
            let a = match external_inbox {
                true => {
                    service
                        .add_account_with_inbox_file(system, &address, Some(&pw), admin)
                        .await?
                }
                false => service.add_account(system, &address, Some(&pw), admin).await?,
            };
            match generated {
                true => println!("Added {} with password {pw}", a.address()),
                false => println!("Added {}", a.address()),
            }
        }
        AccountCommand::Delete { address } => {
            let a = service.find_account(system, &address).await?;
            service.delete_account(system, &address).await?;
            println!("Deleted {} and its mail", a.address());
        }
        AccountCommand::Passwd {
            address,
            password_stdin,
        } => {
            let (pw, generated) = password(password_stdin)?;
            service.set_password(system, &address, &pw).await?;
            match generated {
                true => println!("New password for {address}: {pw}"),
                false => println!("Password changed"),
            }
        }
        AccountCommand::Inbox { address, place } => {
            let file = place == "file";
            service.set_account_external_inbox(system, &address, file).await?;
            match file {
                true => println!("{address}'s INBOX is now its file"),
                false => println!("{address}'s INBOX is now in Mailroom's store"),
            }
        }
        AccountCommand::Quota { address, size } => {
            let bytes = crate::service::parse_size(&size).map_err(Error::BadInput)?;
            service.set_quota(system, &address, bytes).await?;
            println!("{}", quota_said(&address, bytes));
        }
        AccountCommand::List => {
            for a in service.accounts(system).await? {
                let role = if a.is_admin { "  (server admin)" } else { "" };
                let quota = match a.quota_bytes {
                    Some(q) => format!("  (quota {})", mailroom_shared::limits::human_size(q.max(0) as u64)),
                    None => String::new(),
                };
                println!("{}{role}{quota}", a.address());
            }
        }
    }
    Ok(())
}

async fn mailbox(service: &Service, system: &Principal, command: MailboxCommand) -> Result<()> {
    match command {
        MailboxCommand::Create { name, owner, grants } => {
            let full = format!("~{owner}/{name}");
            let grants = grants
                .iter()
                .map(|g| {
                    g.split_once('=')
                        .ok_or_else(|| Error::BadInput(format!("--grant {g:?}: write IDENTIFIER=RIGHTS")))
                })
                .collect::<Result<Vec<_>>>()?;
            for (identifier, rights) in &grants {
                mailroom_shared::AclEntry::parse(identifier, rights)
                    .map_err(|e| Error::BadInput(format!("--grant {identifier}={rights}: {e}")))?;
            }
            let created = service.create_mailbox(system, &full).await?;
            for (identifier, rights) in grants {
                service.set_acl(system, &full, identifier, rights).await?;
            }
            println!("Created {} for {}", created.name, created.owner);
        }
        MailboxCommand::List { owner } => {
            for m in service.list_account_mailboxes(system, &owner).await? {
                println!("{}", m.name);
            }
        }
    }
    Ok(())
}

async fn rule(service: &Service, system: &Principal, command: RuleCommand) -> Result<()> {
    match command {
        RuleCommand::Add {
            scope,
            name,
            priority,
            any,
            conditions,
            actions,
        } => {
            let spec = RuleSpec {
                name,
                priority,
                any,
                conditions: conditions
                    .iter()
                    .map(|c| c.parse())
                    .collect::<Result<_, String>>()
                    .map_err(Error::BadInput)?,
                actions: actions
                    .iter()
                    .map(|a| a.parse())
                    .collect::<Result<_, String>>()
                    .map_err(Error::BadInput)?,
            };
            let id = service.save_rule(system, &scope.scope(), None, spec.clone()).await?;
            println!("rule {id}: {}", spec.describe());
        }
        RuleCommand::List { scope } => {
            for r in service.rules(system, &scope.scope()).await? {
                println!("{}\t{}\t{}: {}", r.id, r.spec.priority, r.spec.name, r.spec.describe());
                for problem in r.problems {
                    println!("\t\tproblem: {problem}");
                }
            }
        }
        RuleCommand::Delete { id } => {
            service.delete_rule(system, id).await?;
            println!("rule {id} deleted");
        }
    }
    Ok(())
}

async fn deliver(service: &Service, from: Option<&str>, to: &[String]) -> Result<()> {
    let mut content = Vec::new();
    std::io::stdin()
        .take(crate::service::MAX_MESSAGE_SIZE as u64 + 1)
        .read_to_end(&mut content)
        .map_err(|e| Error::BadInput(format!("cannot read the message: {e}")))?;
    let mut failed = 0;
    for recipient in to {
        match service.deliver(recipient, content.clone(), from).await {
            Ok(r) if r.stored.is_empty() && r.redirected.is_empty() => {
                println!("{recipient}: {}: {}", r.account, r.summary())
            }
            Ok(r) => println!("{recipient}: delivered to {} {}", r.account, r.places()),
            Err(e) => {
                failed += 1;
                eprintln!("{recipient}: not delivered: {e}");
            }
        }
    }
    match failed {
        0 => Ok(()),
        n => Err(Error::BadInput(format!("{n} of {} recipients failed", to.len()))),
    }
}

fn progress_bar(len: u64, template: &str, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.set_message(what.to_owned());
    bar
}

/// Messages are stored this many per transaction during an import, or
/// fewer when they are big ([`IMPORT_BATCH_BYTES`]).
const IMPORT_BATCH: usize = 500;
const IMPORT_BATCH_BYTES: usize = 32 << 20;
/// An import of this many messages ends by refreshing the planner's
/// statistics ([`Service::refresh_statistics`]); a smaller one leaves them.
const IMPORT_ANALYZE_FROM: u64 = 10_000;

/// Imports an mbox file of any size with flat memory: a first pass reads
/// it through (a broken file imports nothing, and the count gives the
/// progress bar its end), the second parses it on a thread of its own,
/// handing batches over a short queue to the store as they are ready.
async fn import(
    service: &Service,
    system: &Principal,
    address: &str,
    mailbox: &str,
    file: &std::path::Path,
) -> Result<()> {
    let target = format!("~{address}/{mailbox}");
    let open = || {
        std::fs::File::open(file)
            .map(|f| mbox::Reader::new(std::io::BufReader::with_capacity(1 << 20, f)))
            .map_err(|e| Error::BadInput(format!("cannot read {}: {e}", file.display())))
    };
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    let broken = |e: mbox::MboxError| Error::BadInput(format!("{}: {e}; nothing was imported", file.display()));
    let bar = progress_bar(
        size,
        "{msg:10} [{bar:40}] {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, {eta})",
        "checking",
    );
    let mut reader = open()?;
    let mut total = 0u64;
    while let Some(message) = reader.next() {
        message.map_err(broken)?;
        total += 1;
        if total.is_multiple_of(256) {
            bar.set_position(reader.bytes_read());
        }
    }
    bar.finish_and_clear();
    if let Err(Error::NotFound(_)) = service.mailbox(system, &target).await {
        service.find_account(system, address).await?;
        service.create_mailbox(system, &target).await?;
    }
    let started = std::time::Instant::now();
    let bar = progress_bar(
        total,
        "{msg:10} [{bar:40}] {human_pos}/{human_len} messages ({prefix} messages/s, {eta} left)",
        "importing",
    );
    let (batches, mut ready) = tokio::sync::mpsc::channel::<Vec<Incoming>>(2);
    let reader = open()?;
    let parser = tokio::task::spawn_blocking(move || parse_batches(reader, &batches));
    let mut imported = 0u64;
    while let Some(batch) = ready.recv().await {
        let n = batch.len() as u64;
        service.import(system, &target, batch).await?;
        imported += n;
        bar.inc(n);
        bar.set_prefix(format!(
            "{:.0}",
            imported as f64 / started.elapsed().as_secs_f64().max(0.001)
        ));
    }
    parser.await.map_err(|e| Error::Internal(Box::new(e)))?.map_err(|e| {
        Error::BadInput(format!(
            "{}: {e} (the file changed while it was imported?)",
            file.display()
        ))
    })?;
    bar.finish_and_clear();
    if imported >= IMPORT_ANALYZE_FROM {
        service.refresh_statistics().await?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "Imported {imported} messages into {target} in {secs:.1} s ({:.0} messages/s)",
        imported as f64 / secs.max(0.001)
    );
    Ok(())
}

/// The messages of an mbox file in batches for [`import`], until the file
/// ends or the importer stops listening.
fn parse_batches(
    reader: mbox::Reader<impl std::io::BufRead>,
    batches: &tokio::sync::mpsc::Sender<Vec<Incoming>>,
) -> std::result::Result<(), mbox::MboxError> {
    let mut batch = Vec::new();
    let mut bytes = 0;
    for message in reader {
        let m = message?;
        bytes += m.content.len();
        batch.push(Incoming {
            content: m.content,
            flags: Default::default(),
            internal_date: m.date,
            envelope_from: Some(m.sender),
        });
        if batch.len() >= IMPORT_BATCH || bytes >= IMPORT_BATCH_BYTES {
            if batches.blocking_send(std::mem::take(&mut batch)).is_err() {
                return Ok(()); // the import failed and said why
            }
            bytes = 0;
        }
    }
    if !batch.is_empty() {
        let _ = batches.blocking_send(batch);
    }
    Ok(())
}

async fn export(service: &Service, system: &Principal, address: &str, mailbox: &str) -> Result<()> {
    let target = format!("~{address}/{mailbox}");
    let (_, rows) = service.messages(system, &target).await?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for row in rows {
        let content = service.fetch(system, &target, row.uid).await?;
        let sender = row.envelope_from.as_deref().unwrap_or("MAILER-DAEMON");
        mbox::write(&mut out, sender, row.internal_date, &content)
            .map_err(|e| Error::BadInput(format!("cannot write: {e}")))?;
    }
    out.flush().map_err(|e| Error::BadInput(format!("cannot write: {e}")))
}

fn quota_said(whose: &str, bytes: Option<u64>) -> String {
    match bytes {
        Some(b) => format!(
            "{whose} may now hold {} of mail",
            mailroom_shared::limits::human_size(b)
        ),
        None => format!("{whose} has no quota now"),
    }
}
