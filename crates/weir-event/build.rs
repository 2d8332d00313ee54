//! Compiles proto/weir.proto with protox (pure Rust, no system protoc).
fn main() {
    let fds = protox::compile(["proto/weir.proto"], ["proto"]).expect("compile proto/weir.proto");
    let grpc = std::env::var_os("CARGO_FEATURE_GRPC").is_some();
    tonic_prost_build::configure()
        .build_server(grpc)
        .build_client(grpc)
        .compile_fds(fds)
        .expect("generate code for proto/weir.proto");
    println!("cargo:rerun-if-changed=proto/weir.proto");
}
