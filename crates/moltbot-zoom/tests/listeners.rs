//! Hardened listeners: under a 1,024 open-file limit, 2,000 idle and
//! slow-header connections to the REST API and the Zoom webhook endpoint
//! neither stop the API from answering nor break the Zoom connection.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use fake_zoom::FakeZoom;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The sidecar's open-file limit.
const NOFILE: u32 = 1024;

/// Opens `n` connections to `addr`; every other one sends half a request
/// head and then stalls. Returns them (held open by the caller) and how many
/// the kernel did not accept in time (the flood stops after 3 in a row:
/// then the server no longer accepts at all).
async fn flood(addr: SocketAddr, n: usize) -> (Vec<TcpStream>, usize) {
    let mut held = Vec::with_capacity(n);
    let (mut failed, mut in_a_row) = (0, 0);
    for i in 0..n {
        let connect = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(addr));
        let Ok(Ok(mut s)) = connect.await else {
            failed += 1;
            in_a_row += 1;
            if in_a_row == 3 {
                return (held, failed + n - i - 1);
            }
            continue;
        };
        in_a_row = 0;
        if i % 2 == 1 {
            // Slow header: never finished. A write to a connection the
            // server already closed to make room may fail; that is fine.
            let _ = s
                .write_all(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                .await;
        }
        held.push(s);
    }
    (held, failed)
}

fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://").parse().unwrap()
}

/// The open-file limit the kernel applies to `pid`.
fn nofile_of(pid: u32) -> String {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_and_zoom_connection_survive_2000_idle_connections_under_1024_fds() {
    let fake = fake_zoom().await;
    let dir = TempDir::new("listeners-ws");
    let hook = Receiver::start(0, StatusCode::OK).await;
    let config = write_config(
        &dir,
        &fake,
        "127.0.0.1:0",
        &webhook_url(hook.addr.port()),
        "",
    );
    let sidecar = SidecarProcess::start_with_nofile(&config, "info", NOFILE);
    assert!(
        nofile_of(sidecar.pid()).contains(&format!(" {NOFILE} ")),
        "{}",
        nofile_of(sidecar.pid())
    );
    assert!(
        fake.wait_for_open_connections(1, WAIT).await,
        "{}",
        sidecar.output()
    );

    let (held, refused) = flood(addr_of(&sidecar.url), 2000).await;

    // The API answers (with the password) while every flood socket is open.
    let status = tokio::time::timeout(Duration::from_secs(10), sidecar.status())
        .await
        .unwrap_or_else(|_| panic!("no /status under the flood:\n{}", sidecar.output()));
    assert_eq!(status["zoom"]["connected"], true, "{status:#}");
    assert_eq!(
        fake.open_connections(),
        1,
        "the Zoom connection is still up"
    );
    assert_eq!(
        refused,
        0,
        "every flood connection was accepted:\n{}",
        sidecar.output()
    );

    // Zoom drops the connection: the sidecar still has descriptors to reconnect.
    fake.drop_connections(None);
    assert!(
        fake.wait_for_ws_connects(2, WAIT).await,
        "no reconnect under the flood:\n{}",
        sidecar.output()
    );
    sidecar
        .wait_status("the reconnected session", |s| {
            s["zoom"]["connected"] == true
        })
        .await;
    // And events still flow end to end. The reconnect also posts a gap
    // notice, which may arrive before or after the event.
    assert_eq!(
        fake.push_event(meeting_started(4242, 1, 1_736_150_400_000)),
        1
    );
    let got = hook.wait_for(WAIT, |r| r.len() >= 2).await;
    let events = without_gap_notices(&got);
    assert_eq!(events.len(), 1, "{}", sidecar.output());
    assert_eq!(
        events[0].body["data"]["zoom"]["eventType"], "meeting.started",
        "{:?}",
        events[0].body
    );
    assert_eq!(got.len(), 2, "the event and one gap notice: {got:?}");
    drop(held);
    let out = sidecar.kill();
    assert!(!out.contains("panicked"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_endpoint_and_api_survive_2000_slow_connections_under_1024_fds() {
    let fake = fake_zoom().await;
    let dir = TempDir::new("listeners-webhook");
    let hook = Receiver::start(0, StatusCode::OK).await;
    let zoom_port = free_port();
    let config = write_config(
        &dir,
        &fake,
        "127.0.0.1:0",
        &webhook_url(hook.addr.port()),
        &format!("transport = \"webhook\"\nwebhookListen = \"127.0.0.1:{zoom_port}\""),
    );
    let sidecar = SidecarProcess::start_with_nofile(&config, "info", NOFILE);
    sidecar
        .wait_status("the webhook receiver", |s| s["zoom"]["connected"] == true)
        .await;
    let zoom_addr: SocketAddr = ([127, 0, 0, 1], zoom_port).into();

    let (mut held, refused_api) = flood(addr_of(&sidecar.url), 1000).await;
    let (more, refused_zoom) = flood(zoom_addr, 1000).await;
    held.extend(more);

    let status = tokio::time::timeout(Duration::from_secs(10), sidecar.status())
        .await
        .unwrap_or_else(|_| panic!("no /status under the flood:\n{}", sidecar.output()));
    assert_eq!(status["zoom"]["connected"], true, "{status:#}");
    // Zoom's signed POST still gets in and is delivered.
    let url = format!("http://{zoom_addr}/");
    let event = meeting_started(4343, 1, 1_736_150_400_000);
    let code = tokio::time::timeout(
        Duration::from_secs(10),
        FakeZoom::send_webhook(&url, WEBHOOK_SECRET_TOKEN, &event, 0, Duration::ZERO),
    )
    .await
    .expect("the webhook endpoint answers under the flood")
    .unwrap();
    assert_eq!(code, 200, "{}", sidecar.output());
    assert_eq!(
        (refused_api, refused_zoom),
        (0, 0),
        "every flood connection was accepted"
    );
    let got = hook.wait_for(WAIT, |r| !r.is_empty()).await;
    assert_eq!(got.len(), 1, "{}", sidecar.output());
    assert_eq!(got[0].body["data"]["zoom"]["eventType"], "meeting.started");
    drop(held);
    let out = sidecar.kill();
    assert!(!out.contains("panicked"), "{out}");
}
