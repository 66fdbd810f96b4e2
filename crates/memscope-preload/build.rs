//! Variadic `execl`-family hooks cannot be written in stable Rust; a few lines of C
//! turn them into calls to the `execv`-family hooks the Rust side defines.
fn main() {
    println!("cargo:rerun-if-changed=src/execl.c");
    cc::Build::new().file("src/execl.c").compile("memscope_execl");
}
