//! Embeds what `airadm version` prints (see `bundle/build_info.rs`).
// A build script has no fs_err; nothing in it may fail the build.
#![allow(clippy::disallowed_methods)]

#[path = "../bundle/build_info.rs"]
mod build_info;

fn main() {
    build_info::emit();
}
