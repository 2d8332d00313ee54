//! Arbitrary input on the public confirm route (it is reachable by anyone):
//! random form bodies and random tokens get a clear 4xx page, never a server
//! error, and never change the request's state.

mod common;

use common::{alert, path_of, start, Harness};
use proptest::prelude::*;

fn raw_post(h: &Harness, path: &str, body: &[u8]) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(h.addr).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: weir\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out);
    text.split(' ').nth(1).unwrap().parse().unwrap()
}

#[test]
fn oversized_body_is_refused() {
    let h = start(|_| {});
    let request = h.request(&alert(1, "high", vec![]));
    let body = format!("answer=no&nonce={}", "a".repeat(10_000));
    let status = raw_post(&h, &path_of(&request), body.as_bytes());
    assert!(status == 413, "{status}");
    assert_eq!(h.triage.lock().unwrap().state(1).unwrap(), "pending");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_bodies_and_tokens_get_a_4xx(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        fields in proptest::collection::vec(("(answer|nonce|code|suppress_hours|x)", "[ -~]{0,40}"), 0..5),
        token in "[0-9a-f.]{0,100}",
    ) {
        let h = start(|_| {});
        let request = h.request(&alert(1, "high", vec![]));
        let path = path_of(&request);
        let status = raw_post(&h, &path, &body);
        prop_assert!((400..500).contains(&status), "raw body got {}", status);
        let form: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={}", v.replace(['&', '%', '+'], ""))).collect();
        let status = raw_post(&h, &path, form.join("&").as_bytes());
        prop_assert!((400..500).contains(&status), "form {:?} got {}", form, status);
        let status = raw_post(&h, &format!("/triage/{token}"), b"answer=no");
        prop_assert!((400..500).contains(&status), "token {} got {}", token, status);
        prop_assert_eq!(h.triage.lock().unwrap().state(1).unwrap(), "pending");
    }
}
