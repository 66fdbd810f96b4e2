//! Compiles the per-thread slot, the one part of the agent that needs C: only C can
//! ask for the initial-exec TLS model on stable toolchains.
fn main() {
    println!("cargo:rerun-if-changed=src/thread_slot.c");
    cc::Build::new().file("src/thread_slot.c").compile("memscope_thread_slot");
}
