//! The airadm bundle: one signed, zstd-compressed tar per Kubernetes version and architecture.
//!
//! This crate is the contract between `airbundle` (which writes bundles) and `airadm` (which
//! verifies and imports them), documented in `bundle/FORMAT.md`. It owns the manifest schema,
//! entry-path rules, the OCI layout inside a bundle, minisign keys and signatures, the
//! deterministic writer and the single-pass verifying reader; and, shared by both programs, what
//! each says of itself (`build_info`).
//!
//! It does not pull images, talk to container runtimes, parse command lines, print, or use an
//! async runtime: readers and writers are plain `std::io` streams, run on blocking threads by
//! the callers.

pub mod build_info;
pub mod digest;
pub mod entry_path;
pub mod kubeadm;
pub mod manifest;
pub mod oci_layout;
pub mod reader;
pub mod signature;
mod ustar;
pub mod writer;

pub use digest::Digest;
pub use entry_path::EntryPath;
pub use manifest::{Entry, Image, Manifest, Platform};
pub use reader::{Discard, EntrySink, Verified, VerifyError, verify_stream};
pub use signature::{KeyId, PublicKey, SigningKey};
pub use writer::{EntrySource, WriteError, WriterOptions, write_bundle};
