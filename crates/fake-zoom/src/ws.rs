//! `GET /ws`: the WebSocket event subscription.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderValue;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::SecondConnection;
use crate::state::{Conn, ConnCmd, Shared};

#[derive(Deserialize)]
pub(crate) struct WsQuery {
    #[serde(rename = "subscriptionId")]
    subscription_id: Option<String>,
    access_token: Option<String>,
}

pub(crate) async fn upgrade(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<WsQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    shared.lock().ws_connects += 1;
    shared.changed();
    let tracking_id = uuid::Uuid::new_v4().to_string();
    tracing::debug!(%tracking_id, "websocket upgrade");
    let mut resp = ws.on_upgrade(move |socket| serve(socket, shared, q));
    if let Ok(v) = HeaderValue::from_str(&tracking_id) {
        resp.headers_mut().insert("x-zm-trackingid", v);
    }
    resp
}

fn frame(module: &str, success: bool, content: &str) -> String {
    json!({"module": module, "success": success, "content": content, "header": {}}).to_string()
}

async fn send(socket: &mut WebSocket, shared: &Shared, text: String) -> bool {
    let msg = if shared.knobs.borrow().binary_frames {
        Message::Binary(text.into_bytes().into())
    } else {
        Message::Text(text.into())
    };
    socket.send(msg).await.is_ok()
}

async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

/// Checks the handshake; `Err(content)` for a `build_connection` failure.
fn check(shared: &Shared, q: &WsQuery) -> Result<String, String> {
    let token = q.access_token.as_deref().unwrap_or_default();
    if token.is_empty() {
        return Err("token is empty".into());
    }
    let sub = q.subscription_id.as_deref().unwrap_or_default();
    if sub != shared.config.subscription_id || !shared.token_valid(token) {
        return Err(shared.knobs().token_error().to_owned());
    }
    Ok(sub.to_owned())
}

async fn serve(mut socket: WebSocket, shared: Arc<Shared>, q: WsQuery) {
    let subscription = match check(&shared, &q) {
        Ok(sub) => sub,
        Err(content) => {
            tracing::debug!(%content, "build_connection refused");
            send(
                &mut socket,
                &shared,
                frame("build_connection", false, &content),
            )
            .await;
            close(&mut socket, 1000, "").await;
            return;
        }
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let id = {
        let mut st = shared.lock();
        st.next_conn += 1;
        let id = st.next_conn;
        st.conns.insert(
            id,
            Conn {
                subscription: subscription.clone(),
                tx,
            },
        );
        id
    };
    if send(
        &mut socket,
        &shared,
        frame("build_connection", true, "success"),
    )
    .await
    {
        if shared.knobs().second_connection == SecondConnection::KickFirst {
            let st = shared.lock();
            for (other, c) in &st.conns {
                if *other != id && c.subscription == subscription {
                    let _ = c.tx.send(ConnCmd::Close(Some(1000)));
                }
            }
        }
        shared.changed();
        run(&mut socket, &shared, rx).await;
    }
    shared.lock().conns.remove(&id);
    shared.changed();
}

/// True when `msg` is a `{"module":"heartbeat"}` frame (text or binary).
fn is_heartbeat(msg: &Message) -> bool {
    let bytes: &[u8] = match msg {
        Message::Text(t) => t.as_bytes(),
        Message::Binary(b) => b,
        _ => return false,
    };
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .is_some_and(|v| v.get("module").and_then(Value::as_str) == Some("heartbeat"))
}

async fn run(socket: &mut WebSocket, shared: &Shared, mut rx: mpsc::UnboundedReceiver<ConnCmd>) {
    let mut knobs_rx = shared.knobs.subscribe();
    let mut last_heartbeat = Instant::now();
    loop {
        let idle = shared
            .knobs()
            .idle_timeout_secs
            .map(|s| last_heartbeat + Duration::from_secs(s));
        let idle_expired = async {
            match idle {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shared.cancel.cancelled() => return,
            _ = knobs_rx.changed() => {}
            () = idle_expired => {
                tracing::debug!("closing idle connection");
                close(socket, 1000, "idle timeout").await;
                return;
            }
            cmd = rx.recv() => match cmd {
                None | Some(ConnCmd::Close(None)) => return,
                Some(ConnCmd::Close(Some(code))) => {
                    close(socket, code, "").await;
                    return;
                }
                Some(ConnCmd::TokenError) => {
                    let text = frame("message", false, shared.knobs().token_error());
                    send(socket, shared, text).await;
                    close(socket, 1000, "").await;
                    return;
                }
                Some(ConnCmd::Frame { text, delay }) => {
                    if let Some(d) = delay {
                        tokio::time::sleep(d).await;
                    }
                    if !shared.knobs().zombie && !send(socket, shared, text).await {
                        return;
                    }
                }
            },
            msg = socket.recv() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(msg)) if is_heartbeat(&msg) => {
                    last_heartbeat = Instant::now();
                    shared.lock().heartbeats += 1;
                    shared.changed();
                    if !shared.knobs().zombie
                        && !send(socket, shared, frame("heartbeat", true, "live")).await
                    {
                        return;
                    }
                }
                Some(Ok(_)) => {}
            },
        }
    }
}
