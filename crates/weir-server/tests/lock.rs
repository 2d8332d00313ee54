//! One collector per data directory: a second one on the same directory is
//! refused (two writers would interleave the evidence log), and the lock is
//! released on shutdown.

use std::net::SocketAddr;

fn config(data: &std::path::Path) -> weir_server::ServerConfig {
    let mut config = weir_server::ServerConfig::new(data);
    config.grpc_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    config.http_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_collector_on_the_same_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = weir_server::Server::start(config(dir.path())).await.unwrap();
    match weir_server::Server::start(config(dir.path())).await {
        Err(weir_server::ServerError::InUse { path }) => assert_eq!(path, dir.path()),
        Err(other) => panic!("expected InUse, got {other}"),
        Ok(_) => panic!("a second collector started on the same data directory"),
    }
    first.shutdown().await;
    let again = weir_server::Server::start(config(dir.path()))
        .await
        .expect("lock released on shutdown");
    again.shutdown().await;
}
