//! Exports the C allocator from the Fluent Bit core module (`wasm32-wasip1`).
//!
//! Fluent Bit copies each record into the module with WAMR's
//! `wasm_runtime_module_dup_data`. When the module exports `malloc(i32) -> i32`
//! and `free(i32)`, WAMR allocates those copies with them, from memory that
//! grows on demand; otherwise it uses a fixed app heap of `wasm_heap_size`
//! bytes (8 KiB by default) and, when that is too small, Fluent Bit passes a
//! null pointer. wasi-libc (linked by Rust's std) already defines `malloc` and
//! `free`, so they are exported rather than redefined (a Rust definition would
//! be a duplicate symbol). `rustc-link-arg-cdylib` applies to the cdylib only;
//! the other targets and crate types are left alone.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "wasi" && env == "p1" {
        for symbol in ["malloc", "free"] {
            println!("cargo::rustc-link-arg-cdylib=--export={symbol}");
        }
    }
}
