//! containerd's content store: blobs held under the lease and looked up, small ones read back
//! and checked, blobs streamed in as ingests (aborted when they fail), labels set.

use std::collections::HashMap;

use bundle::Digest;
use containerd_client::services::v1::{
    AbortRequest, Info, InfoRequest, ReadContentRequest, UpdateRequest, WriteAction, WriteContentRequest, content_client::ContentClient,
};
use tonic::Code;

use super::{Containerd, ContainerdError, fail};

impl Containerd {
    /// True when the content store has `digest`, which from now on the lease holds: a blob
    /// that only another (ended) lease held may be collected any moment, so it is added to ours
    /// first and looked up after.
    pub async fn hold_blob(&self, digest: &Digest) -> Result<bool, ContainerdError> {
        self.hold("content".to_owned(), &digest.to_string()).await?;
        self.has_blob(digest).await
    }

    /// True when the content store has `digest` (not held: for dry runs and checks).
    pub async fn has_blob(&self, digest: &Digest) -> Result<bool, ContainerdError> {
        match ContentClient::new(self.channel.clone()).info(self.request(InfoRequest { digest: digest.to_string() })).await {
            Ok(_) => Ok(true),
            Err(status) if status.code() == Code::NotFound => Ok(false),
            Err(status) => Err(fail("Content.Info", digest)(status)),
        }
    }

    /// A small blob (a manifest, a config) from the content store, at most `limit` bytes, checked
    /// against its digest.
    pub async fn read_small_blob(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>, ContainerdError> {
        let request = ReadContentRequest { digest: digest.to_string(), offset: 0, size: 0 };
        let mut stream =
            ContentClient::new(self.channel.clone()).read(self.request(request)).await.map_err(fail("Content.Read", digest))?.into_inner();
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.message().await.map_err(fail("Content.Read", digest))? {
            if (bytes.len() + chunk.data.len()) as u64 > limit {
                return Err(fail("Content.Read", digest)(tonic::Status::out_of_range(format!("the blob is larger than {limit} bytes"))));
            }
            bytes.extend_from_slice(&chunk.data);
        }
        if Digest::of(&bytes) != *digest {
            return Err(fail("Content.Read", digest)(tonic::Status::data_loss("the content store's bytes do not hash to the digest")));
        }
        Ok(bytes)
    }

    /// The ingest ref of `digest` for this import: never one an earlier (killed or refused)
    /// import left, whose bytes nobody here checked.
    fn ingest_ref(&self, digest: &Digest) -> String {
        match &self.lease {
            Some(lease) => format!("{lease}-{}", digest.hex()),
            None => format!("airadm-{}-{}", std::process::id(), digest.hex()),
        }
    }

    /// Streams a blob into the content store; containerd checks size and digest at commit.
    /// When `chunks` ends before `size` bytes (the bundle failed mid-entry), or the commit is
    /// refused, the ingest is aborted: nothing of it stays.
    pub async fn write_blob(
        &self,
        digest: &Digest,
        size: u64,
        labels: HashMap<String, String>,
        chunks: tokio::sync::mpsc::Receiver<Vec<u8>>,
    ) -> Result<(), ContainerdError> {
        let reference = self.ingest_ref(digest);
        let written = self.write_ingest(&reference, digest, size, labels, chunks).await;
        if written.is_err() {
            // The stream is closed; the ingest (if containerd created one) is removed now
            // rather than by the collector after the lease.
            let abort = AbortRequest { r#ref: reference.clone() };
            match ContentClient::new(self.channel.clone()).abort(self.request(abort)).await {
                Err(status) if status.code() != Code::NotFound => return Err(fail("Content.Abort", &reference)(status)),
                _ => {}
            }
        }
        written
    }

    async fn write_ingest(
        &self,
        reference: &str,
        digest: &Digest,
        size: u64,
        labels: HashMap<String, String>,
        mut chunks: tokio::sync::mpsc::Receiver<Vec<u8>>,
    ) -> Result<(), ContainerdError> {
        let (tx, rx) = tokio::sync::mpsc::channel::<WriteContentRequest>(4);
        let expected = digest.to_string();
        let stat = WriteContentRequest {
            action: WriteAction::Stat as i32,
            r#ref: reference.to_owned(),
            total: size as i64,
            expected: expected.clone(),
            ..Default::default()
        };
        // Queue the first message before awaiting the call: containerd answers headers only
        // after reading it.
        let _ = tx.send(stat).await;
        let mut responses = ContentClient::new(self.channel.clone())
            .write(self.request(tokio_stream::wrappers::ReceiverStream::new(rx)))
            .await
            .map_err(fail("Content.Write", digest))?
            .into_inner();
        let next = |r: Result<Option<containerd_client::services::v1::WriteContentResponse>, tonic::Status>| match r {
            Ok(Some(response)) => Ok(response.offset),
            Ok(None) => Err(tonic::Status::aborted("stream ended")),
            Err(status) => Err(status),
        };
        next(responses.message().await).map_err(fail("Content.Write", digest))?;
        let mut offset = 0i64;
        while let Some(chunk) = chunks.recv().await {
            let len = chunk.len() as i64;
            let write = WriteContentRequest { action: WriteAction::Write as i32, offset, data: chunk, ..Default::default() };
            if tx.send(write).await.is_err() {
                break;
            }
            next(responses.message().await).map_err(fail("Content.Write", digest))?;
            offset += len;
        }
        if offset != size as i64 {
            return Err(fail("Content.Write", digest)(tonic::Status::cancelled(format!(
                "the bundle entry ended after {offset} of {size} bytes"
            ))));
        }
        let commit =
            WriteContentRequest { action: WriteAction::Commit as i32, total: size as i64, offset, expected, labels, ..Default::default() };
        let _ = tx.send(commit).await;
        next(responses.message().await).map_err(fail("Content.Commit", digest))?;
        Ok(())
    }

    /// Sets labels on a blob (only those keys change).
    pub async fn label_blob(&self, digest: &Digest, labels: HashMap<String, String>) -> Result<(), ContainerdError> {
        let paths = labels.keys().map(|k| format!("labels.{k}")).collect();
        let info = Info { digest: digest.to_string(), labels, ..Default::default() };
        let request = UpdateRequest { info: Some(info), update_mask: Some(prost_types::FieldMask { paths }) };
        ContentClient::new(self.channel.clone()).update(self.request(request)).await.map_err(fail("Content.Update", digest))?;
        Ok(())
    }
}
