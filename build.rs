//! Places the code the HTTP server runs together in the release binary (issue 14): the
//! linker script `link/hot-text.ld`, made by `link/hot-text.py`, puts those functions in one
//! `.text.hot` section ahead of `.text`, so the kernel's 64 KiB fault-around maps a few
//! megabytes of code instead of most of an 18 MB `.text`. ELF targets, release profile only;
//! `CAPSULE_MCP_HOT_TEXT=0` links without it (to compare). Built for a glibc that reads packed
//! relative relocations, the binary packs them.

use std::{env, path::Path};

fn main() {
    println!("cargo::rerun-if-changed=link/hot-text.ld");
    println!("cargo::rerun-if-env-changed=CAPSULE_MCP_HOT_TEXT");
    println!("cargo::rerun-if-env-changed=CC");
    let elf = matches!(
        env::var("CARGO_CFG_TARGET_OS").as_deref(),
        Ok("linux" | "android" | "freebsd" | "netbsd" | "openbsd" | "dragonfly")
    );
    let release = env::var("PROFILE").as_deref() == Ok("release");
    let off = env::var("CAPSULE_MCP_HOT_TEXT").as_deref() == Ok("0");
    // The package being built, read now: a path fixed when this script was compiled is
    // another checkout's when two share a target directory.
    let Ok(root) = env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    let script = Path::new(&root).join("link/hot-text.ld");
    if elf && release && !off && script.exists() {
        println!("cargo::rustc-link-arg-bins=-Wl,-T,{}", script.display());
    }
    if elf && release && glibc_reads_relr() {
        // Relative relocations packed (DT_RELR): a few KB the loader reads instead of half a
        // megabyte of `.rela.dyn` resident in every process.
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether the binary is built for this machine's glibc and that glibc (2.36 or later)
/// reads packed relocations; a binary using them does not start on an older one.
fn glibc_reads_relr() -> bool {
    if env::var("TARGET").ok() != env::var("HOST").ok()
        || env::var("CARGO_CFG_TARGET_ENV").as_deref() != Ok("gnu")
    {
        return false;
    }
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    let Ok(out) = std::process::Command::new(cc)
        .arg("-print-file-name=libc.so.6")
        .output()
    else {
        return false;
    };
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    std::fs::read(&path)
        .map(|libc| libc.windows(17).any(|w| w == b"GLIBC_ABI_DT_RELR"))
        .unwrap_or(false)
}
