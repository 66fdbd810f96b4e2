//! Variadic `execl`-family hooks cannot be written in stable Rust; a few lines of C
//! turn them into calls to the `execv`-family hooks the Rust side defines. Two hidden
//! stubs stand in for the unwinder the library never uses (see `unwind_stubs.c`).
fn main() {
    println!("cargo:rerun-if-changed=src/execl.c");
    println!("cargo:rerun-if-changed=src/unwind_stubs.c");
    cc::Build::new().file("src/execl.c").file("src/unwind_stubs.c").compile("memscope_preload_c");
}
