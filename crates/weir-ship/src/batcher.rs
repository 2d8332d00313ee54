//! Drains the host's event channel without ever blocking it: groups events
//! into batches (full, or `batch_interval` after the first event), hands them
//! to the spool, which seals them or drops and counts them when full.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use weir_event::Event;

use crate::{now_unix_ns, Inner};

pub async fn run(
    inner: Arc<Inner>,
    mut events: mpsc::Receiver<Event>,
    mut stop: watch::Receiver<bool>,
    max_events: usize,
    interval: Duration,
) {
    let max_events = max_events.max(1);
    let mut pending: Vec<Event> = Vec::with_capacity(max_events);
    let mut deadline: Option<Instant> = None;
    loop {
        let timer = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => {
                    if pending.is_empty() {
                        deadline = Some(Instant::now() + interval);
                    }
                    pending.push(event);
                    // Take whatever else is already queued, up to a full batch.
                    while pending.len() < max_events {
                        match events.try_recv() {
                            Ok(event) => pending.push(event),
                            Err(_) => break,
                        }
                    }
                    if pending.len() >= max_events {
                        flush(&inner, &mut pending, max_events);
                        deadline = None;
                    }
                }
                None => {
                    flush(&inner, &mut pending, max_events);
                    inner.producer_closed.store(true, std::sync::atomic::Ordering::SeqCst);
                    inner.wake.notify_one();
                    return;
                }
            },
            _ = timer => {
                flush(&inner, &mut pending, max_events);
                deadline = None;
            }
            _ = stop.wait_for(|s| *s) => {
                // Take what is already queued, then stop.
                while let Ok(event) = events.try_recv() {
                    pending.push(event);
                    if pending.len() >= max_events {
                        flush(&inner, &mut pending, max_events);
                    }
                }
                flush(&inner, &mut pending, max_events);
                inner.producer_closed.store(true, std::sync::atomic::Ordering::SeqCst);
                inner.wake.notify_one();
                return;
            }
        }
    }
}

fn flush(inner: &Inner, pending: &mut Vec<Event>, max_events: usize) {
    let mut spool = inner.spool.lock().unwrap();
    let events = std::mem::replace(pending, Vec::with_capacity(max_events));
    let now = now_unix_ns();
    spool.offer(events, now);
    if let Err(error) = spool.seal_pending(&inner.key, now) {
        tracing::error!(%error, "cannot spool sealed batch");
    }
    drop(spool);
    inner.wake.notify_one();
}
