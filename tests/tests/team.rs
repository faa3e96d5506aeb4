//! Team inboxes, on SQLite and PostgreSQL (and two nodes on PostgreSQL):
//! who is present in a shared folder and what they do there, the
//! activity trail, assignment and status as IMAP keywords, notes, and
//! that someone without the lookup right sees none of it.

use std::time::{Duration, Instant};

use mailroom::Error;
use mailroom_shared::dto::{Draft, PageAt, SortKey};
use mailroom_shared::rules::{Action, RuleSpec, Scope};
use mailroom_shared::team::{ActivityFilter, Doing, Status, Via, What};
use mailroom_tests::http::Browser;
use mailroom_tests::net::{Server, start_node};
use mailroom_tests::{Backend, World, server_test};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;

fn mail(subject: &str) -> Vec<u8> {
    format!("From: Dave <dave@example.org>\r\nTo: alice@example.com\r\nSubject: {subject}\r\n\r\nabout {subject}\r\n")
        .into_bytes()
}

/// alice's `Team`, which bob may read and work in; carol has nothing.
async fn team(server: &Server) {
    let alice = server.user("alice").await;
    server.user("bob").await;
    server.user("carol").await;
    let s = server.service();
    s.create_mailbox(&alice, "Team").await.unwrap();
    s.set_acl(&alice, "Team", "bob", "lrswite").await.unwrap();
}

/// A principal of an account made by `team`.
async fn who(server: &Server, name: &str) -> mailroom::Principal {
    server
        .service()
        .authenticate(name, &format!("pw-{name}"), mailroom::service::LOCAL)
        .await
        .unwrap()
}

async fn signed_in(server: &Server, user: &str) -> Browser {
    Browser::signed_in(server, user, &format!("pw-{user}")).await
}

/// Polls `page` on `browser` until its body says `wanted` (or not, with
/// `present` false), for up to `within`; how long that took.
async fn until_page(browser: &Browser, page: &str, wanted: &str, present: bool, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let body = browser.get(page).await.body;
        if body.contains(wanted) == present {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "{page} {} {wanted:?} after {within:?}",
            if present { "never showed" } else { "still showed" }
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for a change event on an open stream.
async fn next_event(events: &mut BufReader<TcpStream>) {
    let mut line = String::new();
    tokio::time::timeout(mailroom_tests::PATIENCE, async {
        loop {
            line.clear();
            events.read_line(&mut line).await.unwrap();
            if line.starts_with("data: changed") {
                return;
            }
        }
    })
    .await
    .expect("a change event");
}

const BOB_HERE: &str = r#"data-present="bob@example.com""#;

server_test!(
    an_imap_session_shows_on_the_folder_page_and_leaves_with_its_connection,
    |server: Server| async move {
        team(&server).await;
        let alice = signed_in(&server, "alice").await;
        let mut events = alice.events_at("box=Team").await;
        assert!(!alice.get("/mail?box=Team").await.body.contains(BOB_HERE));

        let mut bob = server.login("bob").await;
        bob.ok("SELECT ~alice/Team").await;
        let started = Instant::now();
        next_event(&mut events).await;
        let took = until_page(&alice, "/mail?box=Team", BOB_HERE, true, Duration::from_secs(1)).await;
        eprintln!("bob's SELECT → alice's page: {:?}", started.elapsed().max(took));
        let page = alice.get("/mail?box=Team").await.body;
        assert!(page.contains(r#"data-via="imap""#), "shown with the gateway");
        let alice_p = who(&server, "alice").await;
        let here = server.service().present(&alice_p, "Team").await.unwrap();
        assert_eq!(here.len(), 1, "{here:?}");
        assert_eq!(
            (here[0].who.as_str(), here[0].via, here[0].doing),
            ("bob@example.com", Via::Imap, Doing::Open)
        );

        // Without the lookup right the folder, and who is in it, is nobody's business.
        let carol = who(&server, "carol").await;
        assert!(matches!(
            server.service().present(&carol, "~alice/Team").await,
            Err(Error::NotFound(_))
        ));
        let carol_web = signed_in(&server, "carol").await;
        assert!(!carol_web.get("/mail?box=~alice/Team").await.body.contains(BOB_HERE));

        // The connection drops (no LOGOUT): he is gone within seconds.
        drop(bob);
        let took = until_page(&alice, "/mail?box=Team", BOB_HERE, false, Duration::from_secs(10)).await;
        eprintln!("bob's dropped connection → gone from alice's page: {took:?}");
    }
);

server_test!(
    a_reply_started_on_the_web_warns_the_reader_and_the_folder_tree_shows_who_is_there,
    |server: Server| async move {
        team(&server).await;
        let s = server.service();
        let alice_p = who(&server, "alice").await;
        s.append(&alice_p, "Team", mail("Where is my order?"), &Default::default(), None)
            .await
            .unwrap();
        let bob = signed_in(&server, "bob").await;
        let _replying = bob.events_at("box=~alice/Team&uid=1&doing=replying").await;
        let alice = signed_in(&server, "alice").await;
        let page = alice.get("/mail?box=Team&uid=1").await.body;
        assert!(page.contains("bob@example.com is replying to this message"), "{page}");
        // The tree marks the folder with his initials.
        assert!(page.contains(r#"class="avatar tiny""#), "initials in the folder tree");
        let view = s.read_message(&alice_p, "Team", 1, false, false).await.unwrap();
        assert_eq!(view.team.present[0].doing, Doing::Replying(1));

        // One who hides their presence is shown nowhere.
        let bob_p = who(&server, "bob").await;
        s.set_hide_presence(&bob_p, true).await.unwrap();
        let _reading = bob.events_at("box=~alice/Team&uid=1").await;
        let view = s.read_message(&alice_p, "Team", 1, false, false).await.unwrap();
        assert_eq!(
            view.team.present.len(),
            1,
            "only the stream opened before: {:?}",
            view.team.present
        );
    }
);

/// The trail's entries of `what` in alice's Team, once written.
async fn entries(server: &Server, what: What, n: usize) -> Vec<mailroom_shared::team::Activity> {
    let alice = who(server, "alice").await;
    let filter = ActivityFilter {
        what: what.code().into(),
        ..ActivityFilter::default()
    };
    let start = Instant::now();
    loop {
        let page = server.service().activity(&alice, "Team", filter.clone()).await.unwrap();
        if page.entries.len() >= n {
            return page.entries;
        }
        assert!(
            start.elapsed() < mailroom_tests::PATIENCE,
            "no {what:?} in the trail: {page:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

server_test!(
    an_imap_expunge_a_web_move_and_a_rules_copy_are_on_the_activity_page,
    |server: Server| async move {
        team(&server).await;
        let s = server.service();
        let alice_p = who(&server, "alice").await;
        let rule = RuleSpec {
            name: "to the team".into(),
            priority: 100,
            any: false,
            conditions: Vec::new(),
            actions: vec![Action::CopyTo("Team".into())],
        };
        s.save_rule(&alice_p, &Scope::Account("alice".into()), None, rule)
            .await
            .unwrap();
        let before = mailroom::service::now();
        for subject in ["First", "Second"] {
            s.deliver("alice", mail(subject), Some("dave@example.org"))
                .await
                .unwrap();
        }

        let mut bob = server.login("bob").await;
        bob.ok("SELECT ~alice/Team").await;
        bob.ok("STORE 1 +FLAGS (\\Deleted)").await;
        bob.ok("EXPUNGE").await;

        let alice = signed_in(&server, "alice").await;
        let r = alice
            .post_form("/actions", "mailbox=Team&uid=2&op=move&target=INBOX")
            .await;
        assert!(r.header("location").is_some_and(|l| l.contains("notice=")), "{r:?}");

        let delivered = entries(&server, What::Delivered, 2).await;
        assert_eq!(delivered[0].via, Via::Delivery);
        assert_eq!(delivered[0].actor, "dave@example.org");
        assert_eq!(delivered[0].detail, "rule \"to the team\"");
        let expunged = entries(&server, What::Expunged, 1).await;
        assert_eq!(
            (expunged[0].actor.as_str(), expunged[0].via, expunged[0].uid),
            ("bob@example.com", Via::Imap, Some(1))
        );
        assert_eq!(expunged[0].client, "127.0.0.1", "from where");
        assert!(expunged[0].at >= before && expunged[0].at <= mailroom::service::now());
        let moved = entries(&server, What::MovedOut, 1).await;
        assert_eq!(
            (moved[0].actor.as_str(), moved[0].via, moved[0].detail.as_str()),
            ("alice@example.com", Via::Web, "~alice/INBOX")
        );

        // The page itself, newest first.
        let page = alice.get("/activity?box=Team").await.body;
        let at = |needle: &str| {
            page.find(needle)
                .unwrap_or_else(|| panic!("{needle} not on the page: {page}"))
        };
        let expunge = at(r#"data-what="expunged" data-actor="bob@example.com" data-via="imap""#);
        let move_ = at(r#"data-what="moved-out" data-actor="alice@example.com" data-via="web""#);
        let delivery = at(r#"data-what="delivered" data-actor="dave@example.org" data-via="delivery""#);
        assert!(move_ < expunge && expunge < delivery, "newest first");
        assert!(page.contains("delivered by rule"), "{page}");
        let filtered = alice.get("/activity?box=Team&who=bob").await.body;
        assert!(filtered.contains(r#"data-actor="bob@example.com""#));
        assert!(
            !filtered.contains(r#"data-actor="alice@example.com""#),
            "filtered by who"
        );
        let csv = alice.get("/activity/export?box=Team").await;
        assert_eq!(csv.status, 200);
        assert!(
            csv.body.contains(",bob@example.com,imap,127.0.0.1,expunged,1,"),
            "{}",
            csv.body
        );

        // bob reads the folder but does not administer it: not his, until
        // alice opens the page to readers. carol cannot even look it up.
        let bob_p = who(&server, "bob").await;
        assert!(matches!(
            s.activity(&bob_p, "~alice/Team", ActivityFilter::default()).await,
            Err(Error::NoPermission(_))
        ));
        s.set_team_settings(&alice_p, "Team", Some(true), None).await.unwrap();
        assert!(
            s.activity(&bob_p, "~alice/Team", ActivityFilter::default())
                .await
                .is_ok()
        );
        let carol_p = who(&server, "carol").await;
        assert!(matches!(
            s.activity(&carol_p, "~alice/Team", ActivityFilter::default()).await,
            Err(Error::NotFound(_))
        ));
        let carol = signed_in(&server, "carol").await;
        let refused = carol.get("/activity?box=~alice/Team").await.body;
        assert!(
            refused.contains("activity-refused") && !refused.contains("data-what="),
            "{refused}"
        );
        assert_eq!(carol.get("/activity/export?box=~alice/Team").await.status, 404);
    }
);

server_test!(
    assignment_and_status_set_on_the_web_are_keywords_over_imap_and_back,
    |server: Server| async move {
        team(&server).await;
        let s = server.service();
        let alice_p = who(&server, "alice").await;
        s.append(&alice_p, "Team", mail("Refund"), &Default::default(), None)
            .await
            .unwrap();
        let alice = signed_in(&server, "alice").await;
        let r = alice.post_form("/team", "op=assign&mailbox=Team&uid=1&who=bob").await;
        assert!(
            r.header("location").is_some_and(|l| l.contains("notice=Assigned")),
            "{r:?}"
        );
        let r = alice
            .post_form("/team", "op=status&mailbox=Team&uid=1&status=waiting")
            .await;
        assert!(r.header("location").is_some_and(|l| l.contains("notice=")), "{r:?}");

        let mut bob = server.login("bob").await;
        bob.ok("SELECT ~alice/Team").await;
        let fetched = bob.ok("FETCH 1 (FLAGS)").await.join("\n");
        assert!(
            fetched.contains("$Assigned-bob") && fetched.contains("$Waiting"),
            "{fetched}"
        );

        // Back: a desktop client takes it on and finishes it.
        bob.ok("STORE 1 -FLAGS ($Assigned-bob $Waiting)").await;
        bob.ok("STORE 1 +FLAGS ($Assigned-alice $Done)").await;
        let view = s.read_message(&alice_p, "Team", 1, false, false).await.unwrap();
        assert_eq!(view.team.assignee.as_deref(), Some("alice@example.com"));
        assert_eq!(view.team.status, Status::Done);
        let page = alice.get("/mail?box=Team&uid=1").await.body;
        assert!(page.contains("Assigned to alice@example.com · done"), "{page}");

        // The list's filters.
        let mine = s
            .page(&alice_p, "Team", SortKey::Date, PageAt::at(0), 50, Some("is:mine"))
            .await
            .unwrap();
        assert_eq!(mine.messages.len(), 1);
        assert_eq!(mine.messages[0].assignee.as_deref(), Some("alice"));
        for (q, n) in [("is:unassigned", 0), ("is:open", 0), ("is:done", 1)] {
            let page = s
                .page(&alice_p, "Team", SortKey::Date, PageAt::at(0), 50, Some(q))
                .await
                .unwrap();
            assert_eq!(page.messages.len(), n, "{q}");
        }
        let bob_p = who(&server, "bob").await;
        let bobs = s
            .page(&bob_p, "~alice/Team", SortKey::Date, PageAt::at(0), 50, Some("is:mine"))
            .await
            .unwrap();
        assert!(bobs.messages.is_empty());

        // Only someone who may read the folder can take a message on.
        let r = alice.post_form("/team", "op=assign&mailbox=Team&uid=1&who=carol").await;
        assert!(r.header("location").is_some_and(|l| l.contains("error=")), "{r:?}");

        // Notes: for the team, in the trail, never in the message.
        let r = alice
            .post_form("/team", "op=note&mailbox=Team&uid=1&note=Called+him+back")
            .await;
        assert!(r.header("location").is_some_and(|l| l.contains("notice=")), "{r:?}");
        let view = s.read_message(&bob_p, "~alice/Team", 1, false, false).await.unwrap();
        assert_eq!(view.team.notes[0].body, "Called him back");
        let raw = s.fetch(&bob_p, "~alice/Team", 1).await.unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("Called him back"));

        for (what, actor) in [
            (What::Assigned, "alice@example.com"),
            (What::Status, "alice@example.com"),
            (What::Unassigned, "bob@example.com"),
            (What::Note, "alice@example.com"),
        ] {
            let e = entries(&server, what, 1).await;
            assert!(e.iter().any(|a| a.actor == actor), "{what:?} by {actor}: {e:?}");
        }
    }
);

server_test!(
    answering_as_the_team_needs_the_send_as_list_and_is_filed_beside_the_conversation,
    |server: Server| async move {
        team(&server).await;
        let s = server.service();
        let (alice_p, bob_p) = (who(&server, "alice").await, who(&server, "bob").await);
        s.append(&alice_p, "Team", mail("Opening hours?"), &Default::default(), None)
            .await
            .unwrap();
        let reply = Draft {
            from: "alice@example.com".into(),
            to: "carol@example.com".into(),
            subject: "Re: Opening hours?".into(),
            body: "Nine to five.".into(),
            ..Draft::default()
        };
        // Not on the list: From stays bob's own, and alice's is refused.
        assert_eq!(s.team_identity(&bob_p, "~alice/Team").await.unwrap(), None);
        assert!(matches!(
            s.send(&bob_p, &reply, Some(("~alice/Team", 1))).await,
            Err(Error::BadInput(_))
        ));
        s.set_team_settings(&alice_p, "Team", None, Some(&["bob".to_owned()]))
            .await
            .unwrap();
        assert_eq!(s.sharing(&alice_p, "Team").await.unwrap().send_as, ["bob@example.com"]);
        assert_eq!(
            s.team_identity(&bob_p, "~alice/Team").await.unwrap().as_deref(),
            Some("alice@example.com")
        );
        s.send(&bob_p, &reply, Some(("~alice/Team", 1))).await.unwrap();

        let carol = who(&server, "carol").await;
        let got = String::from_utf8(s.fetch(&carol, "INBOX", 1).await.unwrap()).unwrap();
        assert!(
            got.contains("From: alice@example.com") || got.contains("<alice@example.com>"),
            "{got}"
        );
        let (_, team_mail) = s.messages(&alice_p, "Team").await.unwrap();
        assert_eq!(team_mail.len(), 2, "the sent copy beside the conversation");
        let (_, bobs_sent) = s.messages(&bob_p, "Sent").await.unwrap();
        assert!(bobs_sent.is_empty(), "not in bob's own Sent");
        let sent = entries(&server, What::Sent, 1).await;
        assert_eq!(
            (sent[0].actor.as_str(), sent[0].detail.as_str()),
            ("bob@example.com", "alice@example.com")
        );
        let answered = entries(&server, What::Answered, 1).await;
        assert_eq!(answered[0].uid, Some(1));
    }
);

server_test!(
    read_by_in_per_user_folders_and_the_trail_kept_for_its_domains_days,
    |server: Server| async move {
        team(&server).await;
        let s = server.service();
        let (alice_p, bob_p) = (who(&server, "alice").await, who(&server, "bob").await);
        s.append(&alice_p, "Team", mail("Announcement"), &Default::default(), None)
            .await
            .unwrap();
        s.set_seen_mode(&alice_p, "Team", mailroom_shared::dto::SeenMode::PerUser)
            .await
            .unwrap();
        s.read_message(&bob_p, "~alice/Team", 1, false, true).await.unwrap();
        let view = s.read_message(&alice_p, "Team", 1, false, false).await.unwrap();
        assert_eq!(view.team.read_by, ["bob@example.com"], "alice has not read it yet");
        // Per-user read marks are each reader's own: not in the trail.
        entries(&server, What::SeenModeChanged, 1).await;
        assert!(entries(&server, What::Appended, 1).await.len() == 1);
        let read = s
            .activity(
                &alice_p,
                "Team",
                ActivityFilter {
                    what: What::Read.code().into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(read.entries.is_empty(), "{read:?}");

        // Retention: entries older than the domain's days go.
        let db = &server.world.db;
        db.execute("UPDATE activity SET at = at - 40 * 86400").await;
        assert_eq!(s.purge_activity().await.unwrap(), 0, "90 days by default");
        s.set_activity_days(&server.world.admin, "example.com", 30)
            .await
            .unwrap();
        assert!(s.purge_activity().await.unwrap() >= 3);
        assert_eq!(db.number("SELECT COUNT(*) FROM activity").await, 0);
        assert!(matches!(
            s.set_activity_days(&bob_p, "example.com", 10).await,
            Err(Error::NoPermission(_))
        ));
    }
);

/// Two nodes on one PostgreSQL database: bob on node B is on alice's page
/// on node A within a second, and gone within seconds of hanging up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_crosses_nodes() {
    let Some(world) = World::new(Backend::Postgres).await else {
        return;
    };
    let a = Server::start(world).await;
    team(&a).await;
    let (b, _dir) = start_node(&a.world.db.url, |_| {}).await;
    let alice = signed_in(&a, "alice").await;
    let mut events = alice.events_at("box=Team").await;

    let tcp = TcpStream::connect(b.imap.unwrap()).await.unwrap();
    let mut bob = mailroom_tests::net::Client::greeted(Box::new(tcp)).await;
    bob.ok("LOGIN bob pw-bob").await;
    bob.ok("SELECT ~alice/Team").await;
    let started = Instant::now();
    next_event(&mut events).await;
    until_page(&alice, "/mail?box=Team", BOB_HERE, true, Duration::from_secs(1)).await;
    eprintln!("bob's SELECT on B → alice's page on A: {:?}", started.elapsed());

    // A web reader on B is seen on A too.
    let mut carol_b = Browser::new(b.http);
    carol_b.sign_in("bob", "pw-bob").await;
    let _reading = carol_b.events_at("box=~alice/Team").await;

    // A reply started on B warns alice's reader on A; bob's expunge on B
    // is on A's Activity page.
    let s = a.service();
    s.append(
        &who(&a, "alice").await,
        "Team",
        mail("Refund?"),
        &Default::default(),
        None,
    )
    .await
    .unwrap();
    let _replying = carol_b.events_at("box=~alice/Team&uid=1&doing=replying").await;
    until_page(
        &alice,
        "/mail?box=Team&uid=1",
        "bob@example.com is replying",
        true,
        Duration::from_secs(2),
    )
    .await;
    bob.ok("UID STORE 1 +FLAGS (\\Deleted)").await;
    bob.ok("EXPUNGE").await;
    until_page(
        &alice,
        "/activity?box=Team",
        r#"data-what="expunged" data-actor="bob@example.com" data-via="imap""#,
        true,
        Duration::from_secs(5),
    )
    .await;

    drop(bob);
    drop(_reading);
    drop(_replying);
    let took = until_page(&alice, "/mail?box=Team", BOB_HERE, false, Duration::from_secs(10)).await;
    eprintln!("bob gone from B → gone from A's page: {took:?}");
}

/// A node that dies (no goodbye, its row simply stops being rewritten):
/// its sessions leave the other nodes' pages within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_sessions_fade_out() {
    let Some(world) = World::new(Backend::Postgres).await else {
        return;
    };
    let a = Server::start(world).await;
    team(&a).await;
    let db = &a.world.db;
    let team_id = db.number("SELECT id FROM mailboxes WHERE name = 'Team'").await;
    let bob_id = db.number("SELECT a.id FROM accounts a WHERE a.name = 'bob'").await;
    let now_ms = |ago: i64| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
            - ago
    };
    let entries = format!(
        r#"[{{"mailbox_id":{team_id},"account_id":{bob_id},"who":"bob@example.com","via":"Imap","doing":"Open","since":0}}]"#
    );
    db.execute(&format!(
        "INSERT INTO presence (node, entries, seen_at) VALUES ('crashed', '{entries}', {})",
        now_ms(0)
    ))
    .await;
    let alice = signed_in(&a, "alice").await;
    until_page(&alice, "/mail?box=Team", BOB_HERE, true, Duration::from_secs(2)).await;
    // Its last word, six seconds ago: the node is gone.
    db.execute(&format!(
        "UPDATE presence SET seen_at = {} WHERE node = 'crashed'",
        now_ms(6_000)
    ))
    .await;
    until_page(&alice, "/mail?box=Team", BOB_HERE, false, Duration::from_secs(2)).await;
}
