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
//!
//! It also lists the detection rule files (`data/rules/*.toml`, one rule per
//! file) into `$OUT_DIR/rules.rs`, so that adding a rule is adding a file.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    list_rules();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "wasi" && env == "p1" {
        for symbol in ["malloc", "free"] {
            println!("cargo::rustc-link-arg-cdylib=--export={symbol}");
        }
    }
}

/// Write `&[(file name, include_str!(path))]` for every rule file, sorted.
fn list_rules() {
    let dir = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"))
        .join("data/rules");
    println!("cargo::rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("plugin/data/rules exists")
        .map(|e| e.expect("readable rules directory").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let mut out = String::from("&[\n");
    for path in files {
        println!("cargo::rerun-if-changed={}", path.display());
        let name = path.file_name().expect("a file").to_string_lossy();
        out.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    out.push(']');
    let target =
        std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets it")).join("rules.rs");
    std::fs::write(target, out).expect("writing rules.rs");
}
