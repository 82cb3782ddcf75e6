//! The team server's state store as replicas use it: two stores opened on one Redis (as two
//! processes would) share what either writes, and a lock or a one-use code has one winner
//! across both.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use capsule_mcp::team::store::open;

use crate::common::redis_server;

#[tokio::test]
async fn two_stores_on_one_redis_share_state_and_each_race_has_one_winner() {
    let redis = redis_server();
    let a = open(Some(&redis.url(0))).await.unwrap();
    let b = open(Some(&redis.url(0))).await.unwrap();

    a.put("person:1", b"sealed".to_vec(), None).await.unwrap();
    assert_eq!(
        b.get("person:1").await.unwrap().as_deref(),
        Some(&b"sealed"[..])
    );

    let lease = Some(Duration::from_secs(30));
    let mut tasks = Vec::new();
    for i in 0..40u8 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            s.put_new("lock:refresh:1", vec![i], lease).await.unwrap()
        }));
    }
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1);

    a.put("code:x", b"c".to_vec(), Some(Duration::from_secs(60)))
        .await
        .unwrap();
    let (x, y) = tokio::join!(a.take("code:x"), b.take("code:x"));
    assert_eq!(
        usize::from(x.unwrap().is_some()) + usize::from(y.unwrap().is_some()),
        1
    );

    let reset = 1_700_000_000_000;
    a.raise("hold:1", reset, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        b.raise("hold:1", reset - 1, Duration::from_secs(60))
            .await
            .unwrap(),
        reset,
        "a hold one replica set holds back the other"
    );
}
