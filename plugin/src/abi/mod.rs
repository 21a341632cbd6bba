//! WebAssembly ABIs. Each submodule converts between an ABI's types and this
//! crate's types, and nothing else.

#[cfg(target_env = "p2")]
mod component;
#[cfg(target_env = "p1")]
mod fluentbit;
