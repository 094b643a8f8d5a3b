//! Sets the SONAME of the shared library.
//!
//! ABI rule: `ABI_VERSION` is the number in the SONAME `libscoutlb.so.<ABI_VERSION>`. Increment it
//! whenever a change breaks programs linked against the previous library: a function removed or
//! its signature changed, a `#[repr(C)]` struct or callback type changed other than by appending
//! fields to a struct the library allocates, or a status, event or enum number given a new meaning.
//! Adding functions, status codes or event kinds does not change it.

/// The ABI generation of `libscoutlb.so`.
const ABI_VERSION: u32 = 0;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libscoutlb.so.{ABI_VERSION}");
    }
}
