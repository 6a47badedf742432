use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn control_api_round_trip() {
    let fake = start().await;
    let base = fake.base_url();
    let http = client();
    let mut ws = connect_ok(&fake).await;
    assert!(fake.wait_for_open_connections(1, WAIT).await);

    // One event, then a batch.
    let event = meeting_started("42");
    let resp: Value = http
        .post(format!("{base}/_fake/events"))
        .json(&event)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp, json!({"delivered": 1}));
    assert_event_frame(&next_frame(&mut ws).await.unwrap(), &event);
    let batch = json!({"events": [meeting_started("a"), meeting_started("b")]});
    let resp: Value = http
        .post(format!("{base}/_fake/events"))
        .json(&batch)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp, json!({"delivered": 2}));
    for id in ["a", "b"] {
        assert_event_frame(&next_frame(&mut ws).await.unwrap(), &meeting_started(id));
    }
    let bad = http
        .post(format!("{base}/_fake/events"))
        .body("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    // Raw frames.
    let resp: Value = http
        .post(format!("{base}/_fake/frames"))
        .json(&json!({"frame": "{\"module\":\"x\"}"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp, json!({"delivered": 1}));
    assert_eq!(next_frame(&mut ws).await.unwrap(), json!({"module": "x"}));

    // Knobs: a partial POST merges.
    let knobs: Value = http
        .post(format!("{base}/_fake/knobs"))
        .json(&json!({"duplicate_events": true, "second_connection": "allow_both"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(knobs["duplicate_events"], true);
    assert_eq!(knobs["echo_sends"], true);
    assert!(fake.knobs().duplicate_events);
    assert_eq!(
        fake.knobs().second_connection,
        fake_zoom::SecondConnection::AllowBoth
    );
    let got: Value = http
        .get(format!("{base}/_fake/knobs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got, knobs);
    let bad = http
        .post(format!("{base}/_fake/knobs"))
        .json(&json!({"zombie": "maybe"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    http.post(format!("{base}/_fake/knobs"))
        .json(&json!({"duplicate_events": false}))
        .send()
        .await
        .unwrap();

    // A Team Chat send shows in /_fake/team-chat; stats and requests are served.
    let token = token(&fake).await;
    let resp = http
        .post(format!("{base}/v2/chat/users/me/messages"))
        .bearer_auth(&token)
        .json(&json!({"message": "hey", "to_channel": "chan-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let list: Vec<fake_zoom::SentChatMessage> = http
        .get(format!("{base}/_fake/team-chat"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].body.message, "hey");
    let bots: Value = http
        .get(format!("{base}/_fake/chatbot"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bots, json!([]));
    let stats: fake_zoom::Stats = http
        .get(format!("{base}/_fake/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats.token_requests, 2);
    assert_eq!(stats.open_connections, 1);
    assert_eq!(stats.ws_connects, 1);
    let reqs: Vec<fake_zoom::RecordedRequest> = http
        .get(format!("{base}/_fake/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        reqs.iter()
            .any(|r| r.path == "/v2/chat/users/me/messages" && r.status == 201)
    );
    assert!(reqs.iter().all(|r| !r.path.starts_with("/_fake")));

    // Reset clears records and counters.
    http.post(format!("{base}/_fake/reset"))
        .send()
        .await
        .unwrap();
    assert!(fake.team_chat_messages().is_empty());
    assert!(fake.requests().is_empty());
    assert_eq!(fake.token_requests(), 0);
    assert_eq!(fake.open_connections(), 1);
}

#[tokio::test]
async fn control_drop_and_expire() {
    let fake = start().await;
    let base = fake.base_url();
    let http = client();
    let mut ws = connect_ok(&fake).await;
    assert!(fake.wait_for_open_connections(1, WAIT).await);
    let resp: Value = http
        .post(format!("{base}/_fake/drop"))
        .json(&json!({"close_code": 1001}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp, json!({"dropped": 1}));
    assert_eq!(close_code(&mut ws).await, Some(1001));

    let mut ws = connect_ok(&fake).await;
    assert!(fake.wait_for_open_connections(1, WAIT).await);
    let resp = http
        .post(format!("{base}/_fake/drop"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(close_code(&mut ws).await, None);

    let mut ws = connect_ok(&fake).await;
    assert!(fake.wait_for_open_connections(1, WAIT).await);
    let resp = http
        .post(format!("{base}/_fake/expire-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        next_frame(&mut ws).await.unwrap()["content"],
        "Token is invalid"
    );
}
