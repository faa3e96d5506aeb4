//! A flood of logins before anyone is known (issue "Safe to expose",
//! item 9): password checks wait in a bounded queue, and those past it
//! are told to come back instead of piling up. In a file of its own, and
//! on one store only (the queue is the process's, whatever the store):
//! the flood would turn other tests' logins away.

use mailroom::Error;
use mailroom::limits;
use mailroom_tests::{Backend, World};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_is_turned_away_not_queued_without_end() {
    let w = World::new(Backend::Sqlite).await.expect("world");
    w.user("alice").await;
    // Failed logins are throttled too; here only the queue is looked at.
    let service = w
        .service
        .clone()
        .with_login_throttle(100_000, std::time::Duration::from_millis(1));
    let mut tries = Vec::new();
    for _ in 0..limits::HASH_QUEUE * 3 {
        let service = service.clone();
        tries.push(tokio::spawn(async move {
            service.authenticate("alice", "wrong", mailroom::service::LOCAL).await
        }));
    }
    let (mut busy, mut failed) = (0, 0);
    for t in tries {
        match t.await.unwrap() {
            Err(Error::InUse(m)) => {
                assert!(m.contains("too many logins"), "{m}");
                busy += 1;
            }
            Err(Error::AuthFailed) => failed += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(busy > 0, "every one of {} waited", limits::HASH_QUEUE * 3);
    assert!(failed >= limits::HASH_QUEUE / 2, "only {failed} were checked");
    // Once the flood is over, logins work again.
    w.service
        .authenticate("alice", "pw-alice", mailroom::service::LOCAL)
        .await
        .expect("logs in");
}
