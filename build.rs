//! Places the code the HTTP server runs together in the release binary (issue 14): the
//! linker script `link/hot-text.ld`, made by `link/hot-text.py`, puts those functions in one
//! `.text.hot` section ahead of `.text`, so the kernel's 64 KiB fault-around maps a few
//! megabytes of code instead of most of an 18 MB `.text`. ELF targets, release profile only;
//! `CAPSULE_MCP_HOT_TEXT=0` links without it (to compare).

use std::{env, path::Path};

fn main() {
    println!("cargo::rerun-if-changed=link/hot-text.ld");
    println!("cargo::rerun-if-env-changed=CAPSULE_MCP_HOT_TEXT");
    let elf = matches!(
        env::var("CARGO_CFG_TARGET_OS").as_deref(),
        Ok("linux" | "android" | "freebsd" | "netbsd" | "openbsd" | "dragonfly")
    );
    let release = env::var("PROFILE").as_deref() == Ok("release");
    let off = env::var("CAPSULE_MCP_HOT_TEXT").as_deref() == Ok("0");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("link/hot-text.ld");
    if elf && release && !off && script.exists() {
        println!("cargo::rustc-link-arg-bins=-Wl,-T,{}", script.display());
    }
}
