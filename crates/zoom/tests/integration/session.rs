use std::{collections::BTreeMap, time::Duration};

use fake_zoom::{FakeConfig, SecondConnection};
use moltbot_channel::ConnectionState;
use tokio::time::{Instant, timeout};

use crate::common::{WAIT, fake, number_of, numbered, provider, session_config, spawn_session};

#[tokio::test]
async fn events_flow_and_heartbeats_reach_the_fake() {
    let fake = fake(FakeConfig::default()).await;
    let mut s = spawn_session(session_config(&fake), provider(&fake));
    let status = s.connected(1).await;
    assert!(status.tracking_id.is_some(), "x-zm-trackingid recorded");
    assert_eq!(fake.push_event(numbered(1)), 1);
    let ev = s.next_event().await;
    assert_eq!(number_of(&ev), 1);
    assert_eq!(ev.event.event, "meeting.started");
    assert!(ev.raw_content.contains("\"event\""));
    assert!(fake.wait_for_heartbeats(3, WAIT).await);
    s.stop().await.unwrap();
    fake.shutdown();
}

#[tokio::test]
async fn reconnect_after_server_drop() {
    let fake = fake(FakeConfig::default()).await;
    let mut s = spawn_session(session_config(&fake), provider(&fake));
    s.connected(1).await;
    // Abrupt TCP drop, then a close frame with 1001.
    for (round, code) in [(1u64, None), (2, Some(1001))] {
        fake.drop_connections(code);
        let status = s
            .wait_status(|st| st.reconnects == round && st.state == ConnectionState::Connected)
            .await;
        assert_eq!(status.connects, round + 1);
        assert!(status.last_error.is_some());
        assert!(fake.wait_for_open_connections(1, WAIT).await);
        assert_eq!(fake.push_event(numbered(round)), 1);
        assert_eq!(number_of(&s.next_event().await), round);
    }
    // A plain drop does not need a new token.
    assert_eq!(fake.token_requests(), 1);
    s.stop().await.unwrap();
    fake.shutdown();
}

#[tokio::test]
async fn token_error_strings_refresh_and_reconnect() {
    let fake = fake(FakeConfig::default()).await;
    let mut s = spawn_session(session_config(&fake), provider(&fake));
    s.connected(1).await;
    for (round, text) in [(1u64, "Invalid Token"), (2, "Token is invalid")] {
        fake.update_knobs(|k| k.token_error_text = Some(text.into()));
        let connects_before = fake.ws_connects();
        fake.expire_tokens();
        let status = s
            .wait_status(|st| st.connects == round + 1 && st.state == ConnectionState::Connected)
            .await;
        assert!(
            status
                .last_error
                .as_deref()
                .unwrap_or_default()
                .contains(text),
            "{status:?}"
        );
        assert_eq!(
            fake.token_requests(),
            round + 1,
            "a new token per rejection"
        );
        assert_eq!(
            fake.ws_connects(),
            connects_before + 1,
            "one new connection"
        );
        assert!(fake.wait_for_open_connections(1, WAIT).await);
        assert_eq!(fake.push_event(numbered(round)), 1);
        assert_eq!(number_of(&s.next_event().await), round);
    }
    s.stop().await.unwrap();
    fake.shutdown();
}

/// An event whose text mentions an invalid token is an event: delivered,
/// with no new token and no reconnect.
#[tokio::test]
async fn an_event_mentioning_an_invalid_token_is_delivered_without_a_reconnect() {
    let fake = fake(FakeConfig::default()).await;
    let mut s = spawn_session(session_config(&fake), provider(&fake));
    s.connected(1).await;
    let mut event = numbered(7);
    event["payload"]["object"]["topic"] = "Token is invalid: fix the VPN".into();
    assert_eq!(fake.push_event(event), 1);
    let got = s.next_event().await;
    assert_eq!(number_of(&got), 7);
    assert_eq!(
        got.event.payload["object"]["topic"],
        "Token is invalid: fix the VPN"
    );
    assert_eq!(fake.push_event(numbered(8)), 1);
    assert_eq!(number_of(&s.next_event().await), 8);
    assert_eq!(fake.ws_connects(), 1, "no reconnect");
    assert_eq!(fake.token_requests(), 1, "no new token");
    s.stop().await.unwrap();
    fake.shutdown();
}

#[tokio::test]
async fn build_connection_failure_is_retried_with_backoff_not_hot_looped() {
    let fake = fake(FakeConfig::default()).await;
    let mut config = session_config(&fake);
    config.subscription_id = "unknown-subscription".into();
    let mut s = spawn_session(config, provider(&fake));
    let status = s
        .wait_status(
            |st| matches!(st.state, ConnectionState::Reconnecting { attempt } if attempt >= 3),
        )
        .await;
    let error = status.last_error.unwrap();
    assert!(error.contains("Token is invalid"), "{error}");
    assert_eq!(status.connects, 0);
    assert!(fake.wait_for_ws_connects(3, WAIT).await);
    // Every failure forced a new token.
    assert!(fake.token_requests() >= 3);
    // Bounded rate: at the 400 ms cap, delays are at least 200 ms, so a 1 s
    // window sees at most 5 attempts (+1 in flight); a hot loop would see hundreds.
    s.wait_status(
        |st| matches!(st.state, ConnectionState::Reconnecting { attempt } if attempt >= 4),
    )
    .await;
    let before = fake.ws_connects();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let during = fake.ws_connects() - before;
    assert!((1..=6).contains(&during), "{during} attempts in 1 s");
    s.stop().await.unwrap();
    fake.shutdown();
}

#[tokio::test]
async fn zombie_connection_is_detected_and_replaced() {
    let fake = fake(FakeConfig::default()).await;
    let mut config = session_config(&fake);
    config.liveness_timeout = Duration::from_millis(800);
    let mut s = spawn_session(config, provider(&fake));
    s.connected(1).await;
    fake.update_knobs(|k| k.zombie = true);
    let status = s.wait_status(|st| st.reconnects >= 1).await;
    assert!(status.last_error.unwrap().contains("nothing received"));
    fake.update_knobs(|k| k.zombie = false);
    s.wait_status(|st| st.state == ConnectionState::Connected)
        .await;
    assert!(fake.wait_for_open_connections(1, WAIT).await);
    let pushed = fake.push_event(numbered(9));
    assert!(pushed >= 1);
    assert_eq!(number_of(&s.next_event().await), 9);
    s.stop().await.unwrap();
    fake.shutdown();
}

/// Pushes numbered events every few ms while the session recycles its
/// connection twice; every number must arrive exactly once.
async fn recycle_loses_and_duplicates_nothing(mode: SecondConnection) {
    let fake = fake(FakeConfig {
        expires_in: 4,
        ..FakeConfig::default()
    })
    .await;
    fake.update_knobs(|k| k.second_connection = mode);
    let mut config = session_config(&fake);
    // 4 s tokens: recycle max(4 - 3, 4 / 2) = 2 s after each connect.
    config.recycle_before_expiry = Duration::from_secs(3);
    config.liveness_timeout = Duration::from_secs(5);
    let tokens = provider(&fake).with_refresh_margin(Duration::from_secs(1));
    let mut s = spawn_session(config, tokens);
    s.connected(1).await;

    let mut pusher = tokio::spawn({
        let fake = fake.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(12);
            let mut n = 0u64;
            // Until two recycles have completed (or the bound).
            while fake.ws_connects() < 3 && Instant::now() < deadline {
                n += 1;
                let delivered = fake.push_event(numbered(n));
                assert!(delivered >= 1, "event {n} had no open connection");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            // A few more after the last recycle.
            for _ in 0..20 {
                n += 1;
                assert!(fake.push_event(numbered(n)) >= 1);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            n
        }
    });
    let mut seen = BTreeMap::new();
    let total = loop {
        tokio::select! {
            ev = s.events.recv() => {
                let ev = ev.expect("session ended");
                *seen.entry(number_of(&ev)).or_insert(0u32) += 1;
            }
            n = &mut pusher => break n.expect("pusher panicked"),
        }
    };
    // Drain what is still in flight.
    while seen.len() < total as usize {
        let ev = timeout(WAIT, s.events.recv())
            .await
            .expect("events missing")
            .unwrap();
        *seen.entry(number_of(&ev)).or_insert(0) += 1;
    }
    assert!(total > 100, "only {total} events pushed");
    let wrong: Vec<_> = (1..=total)
        .filter(|n| seen.get(n).copied() != Some(1))
        .collect();
    assert!(wrong.is_empty(), "lost or duplicated: {wrong:?}");
    assert_eq!(seen.len() as u64, total);
    let status = s.status.borrow().clone();
    assert!(status.connects >= 3, "{status:?}");
    assert_eq!(
        status.reconnects, 0,
        "recycles are not reconnects: {status:?}"
    );
    s.stop().await.unwrap();
    fake.shutdown();
}

#[tokio::test]
async fn recycle_make_before_break_kick_first() {
    recycle_loses_and_duplicates_nothing(SecondConnection::KickFirst).await;
}

#[tokio::test]
async fn recycle_make_before_break_allow_both() {
    recycle_loses_and_duplicates_nothing(SecondConnection::AllowBoth).await;
}

async fn knob_events(set: impl FnOnce(&mut fake_zoom::Knobs)) -> crate::common::Running {
    let fake = fake(FakeConfig::default()).await;
    fake.update_knobs(set);
    let mut s = spawn_session(session_config(&fake), provider(&fake));
    s.connected(1).await;
    for n in 1..=3 {
        assert_eq!(fake.push_event(numbered(n)), 1);
    }
    for n in 1..=3 {
        assert_eq!(number_of(&s.next_event().await), n);
    }
    // Nothing else was delivered in between: the next event is the sentinel.
    fake.push_event(numbered(99));
    assert_eq!(number_of(&s.next_event().await), 99);
    fake.shutdown();
    s
}

#[tokio::test]
async fn binary_frames() {
    let s = knob_events(|k| k.binary_frames = true).await;
    assert_eq!(s.status.borrow().malformed_frames, 0);
    s.cancel.cancel();
}

#[tokio::test]
async fn content_as_object() {
    let s = knob_events(|k| k.content_as_object = true).await;
    assert_eq!(s.status.borrow().malformed_frames, 0);
    s.cancel.cancel();
}

#[tokio::test]
async fn duplicate_event_knob_is_deduped() {
    let mut s = knob_events(|k| k.duplicate_events = true).await;
    let status = s.wait_status(|st| st.duplicates_dropped == 4).await;
    assert_eq!(status.malformed_frames, 0);
    s.cancel.cancel();
}

#[tokio::test]
async fn clean_shutdown_closes_the_connection() {
    let fake = fake(FakeConfig::default()).await;
    let mut s = spawn_session(session_config(&fake), provider(&fake));
    s.connected(1).await;
    assert!(fake.wait_for_open_connections(1, WAIT).await);
    let mut status = s.status.clone();
    s.stop().await.unwrap();
    assert!(fake.wait_for_at_most_connections(0, WAIT).await);
    assert_eq!(status.borrow_and_update().state, ConnectionState::Stopped);
    fake.shutdown();
}
