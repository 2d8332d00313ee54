//! An HTTP/1.1 server (hyper) that records every request and answers from a
//! script of (status, body) responses, then with the default.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub received: std::time::Instant,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

pub struct HttpReceiver {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
}

/// One scripted answer: status, body, extra headers.
pub type Reply = (u16, String, Vec<(String, String)>);

struct Script {
    responses: Mutex<VecDeque<Reply>>,
    default: Reply,
}

impl HttpReceiver {
    /// Answers `default` to everything after the scripted `responses` are used up.
    pub fn start(responses: Vec<(u16, &str)>, default: (u16, &str)) -> HttpReceiver {
        HttpReceiver::start_with_tls(responses, default, None)
    }

    /// Scripted answers that may carry headers (e.g. `Retry-After`).
    pub fn start_with_replies(responses: Vec<Reply>, default: Reply) -> HttpReceiver {
        HttpReceiver::serve(responses, default, None)
    }

    /// Like [`HttpReceiver::start`], serving https with `tls` when given.
    pub fn start_with_tls(
        responses: Vec<(u16, &str)>,
        default: (u16, &str),
        tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    ) -> HttpReceiver {
        let reply = |(status, body): (u16, &str)| (status, body.to_string(), Vec::new());
        HttpReceiver::serve(responses.into_iter().map(reply).collect(), reply(default), tls)
    }

    fn serve(
        responses: Vec<Reply>,
        default: Reply,
        tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    ) -> HttpReceiver {
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        let script = Arc::new(Script {
            responses: Mutex::new(responses.into_iter().collect()),
            default,
        });
        let requests = Arc::new(Mutex::new(Vec::new()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let recorded = requests.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let script = script.clone();
                    let recorded = recorded.clone();
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let service =
                            hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                                let script = script.clone();
                                let recorded = recorded.clone();
                                async move {
                                    let (parts, body) = request.into_parts();
                                    let body = body.collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
                                    recorded.lock().unwrap().push(Request {
                                        method: parts.method.to_string(),
                                        path: parts.uri.to_string(),
                                        headers: parts
                                            .headers
                                            .iter()
                                            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                                            .collect(),
                                        body,
                                        received: std::time::Instant::now(),
                                    });
                                    let (status, text, headers) = script
                                        .responses
                                        .lock()
                                        .unwrap()
                                        .pop_front()
                                        .unwrap_or_else(|| script.default.clone());
                                    let mut response = hyper::Response::builder().status(status);
                                    for (name, value) in headers {
                                        response = response.header(name, value);
                                    }
                                    let response = response.body(Full::new(Bytes::from(text))).unwrap();
                                    Ok::<_, std::convert::Infallible>(response)
                                }
                            });
                        let http = hyper::server::conn::http1::Builder::new();
                        match acceptor {
                            None => {
                                let _ = http.serve_connection(TokioIo::new(stream), service).await;
                            }
                            Some(acceptor) => {
                                if let Ok(stream) = acceptor.accept(stream).await {
                                    let _ = http.serve_connection(TokioIo::new(stream), service).await;
                                }
                            }
                        }
                    });
                }
            });
        });
        HttpReceiver { addr, requests }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

/// A server that accepts connections and never answers (for timeouts and full queues).
pub fn silent_server() -> (SocketAddr, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    (addr, handle)
}
