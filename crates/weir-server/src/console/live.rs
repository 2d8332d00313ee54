//! The collector's live counters for the console: `GET /api/stats` (one
//! snapshot) and `GET /api/stream/stats` (server-sent events, one `stats`
//! event a second). The console's alert queue refreshes when the ingest
//! count moves, so an alert shows within a second or two without a reload.
//! Each stream holds one small bounded channel and ends when the client
//! goes away, the collector stops, or after [`MAX_STREAM`] (the browser's
//! EventSource reconnects, and the reconnection passes the session check
//! again, so a signed-out session stops receiving). A client that does not
//! ask for `text/event-stream` gets one event and the end of the stream.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, Method};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use serde_json::{json, Value};
use tokio_stream::wrappers::ReceiverStream;

use crate::http::Route;
use crate::Shared;

/// Time between two `stats` events of a stream.
const TICK: Duration = Duration::from_secs(1);
/// Longest one stream lasts before the client must reconnect.
const MAX_STREAM: Duration = Duration::from_secs(300);

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::guarded(Method::GET, "/api/stats", get(stats)),
        Route::guarded(Method::GET, "/api/stream/stats", get(stream)),
    ]
}

/// The collector's counters now, with when they were read.
fn snapshot(shared: &Shared) -> Value {
    let mut v = serde_json::to_value(shared.stats()).unwrap_or_default();
    v["at_unix_ns"] = json!(crate::now_unix_ns());
    v
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    Json(snapshot(&shared)).into_response()
}

async fn stream(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let wants_stream = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"));
    let ticks = if wants_stream {
        (MAX_STREAM.as_secs() / TICK.as_secs()).max(1)
    } else {
        1
    };
    let (events, receiver) = tokio::sync::mpsc::channel::<Result<Event, Infallible>>(2);
    let mut stopping = shared.stopping.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        for _ in 0..ticks {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stopping.changed() => return,
            }
            if *stopping.borrow() {
                return;
            }
            let event = Event::default().event("stats").data(snapshot(&shared).to_string());
            // A client that does not read is skipped, never waited for.
            match events.try_send(Ok(event)) {
                Ok(()) | Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {}
                Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => return,
            }
        }
    });
    Sse::new(ReceiverStream::new(receiver))
        .keep_alive(KeepAlive::default())
        .into_response()
}
