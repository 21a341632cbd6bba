//! WebAssembly ABIs. Each submodule converts between an ABI's types and this
//! crate's types, and nothing else.

mod component;
