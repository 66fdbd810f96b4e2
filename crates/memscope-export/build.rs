//! Generates the pprof message types from `proto/profile.proto`. The schema is parsed
//! by protox, a protobuf compiler written in Rust, so building memscope needs nothing
//! beyond crates.io (no `protoc` installed); prost-build writes the Rust types.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/profile.proto");
    let descriptors = protox::compile(["proto/profile.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
