//! [`LogObject`]: a log file mirrored into one S3 object, flush by flush, each flush costing
//! only its new bytes.
//!
//! The log is written to a local spool file by examen-log's append-only writer. Each publish
//! makes the object the zip the spool holds, laid out contiguously: the members, then the
//! central directory and end records (the spool may keep room between the two; the object
//! never does). The members a publish has put in the object never change afterwards, so the
//! next publish composes the new object server-side: a multipart upload whose first parts are
//! `UploadPartCopy` of the old object's members (S3 copies them, nothing is sent) and whose
//! last parts carry the new members and the new directory, completed with `If-Match` on the
//! old ETag. A reader sees the old object or the new one, never a torn zip; a second writer's
//! change makes the completion fail instead of being overwritten.
//!
//! S3 only composes parts of at least 5 MiB (but the last), so while the object's members are
//! smaller it is uploaded whole. Both ways re-send the central directory, which grows with the
//! log; [`LogObject::worth_publishing`] therefore lets a flush through only when what it sends
//! is at most 1.5 times its new bytes (the caller also publishes when samples have waited a flush
//! interval, and at the end), which keeps the bytes sent within a small multiple of the log.

use std::fs::File;
use std::ops::Range;
use std::sync::Arc;

use examen_http::Bytes;
use examen_log::Snapshot;

use super::client::{CompletedPart, Condition, S3Client};
use super::error::{S3Error, S3ErrorKind};

/// S3's smallest part (but the last) and the size below which an object is sent whole.
pub const MIN_PART: u64 = 5 * 1024 * 1024;
/// S3's largest part.
const MAX_PART: u64 = 5 * 1024 * 1024 * 1024;
/// S3's most parts in one upload.
const MAX_PARTS: u64 = 10_000;
/// Objects up to this size are sent with one `PutObject`.
const SINGLE_PUT: u64 = 16 * 1024 * 1024;
/// Upload parts: at least this big (fewer requests), larger for huge logs so that
/// [`MAX_PARTS`] is never reached.
const PART: u64 = 16 * 1024 * 1024;

/// A flush frozen for publishing: the spool's members up to `members_end` (which never
/// change once written) and a copy of what follows them in the object (the central directory
/// and end records, which the writer moves and rewrites as it goes). The writer can go on
/// while a frozen flush is published.
#[derive(Debug, Clone)]
pub struct Frozen {
    spool: Arc<File>,
    members_end: u64,
    tail: Bytes,
}

impl Frozen {
    /// Freezes `snapshot` of the `.eval` file `spool` (reads its directory now).
    pub fn capture(spool: Arc<File>, snapshot: &Snapshot) -> std::io::Result<Self> {
        use std::os::unix::fs::FileExt;
        let dir = &snapshot.directory;
        let mut tail = vec![0u8; (dir.end - dir.start) as usize];
        spool.read_exact_at(&mut tail, dir.start)?;
        tail.extend_from_slice(&snapshot.end_records);
        Ok(Self {
            spool,
            members_end: snapshot.members_end,
            tail: Bytes::from(tail),
        })
    }

    /// The whole file `file`, as it is now (a `.json` log, which is replaced by renaming a
    /// new file over it: the open handle keeps this version).
    pub fn whole(file: File) -> std::io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(Self {
            spool: Arc::new(file),
            members_end: len,
            tail: Bytes::new(),
        })
    }

    /// The object's size.
    pub fn len(&self) -> u64 {
        self.members_end + self.tail.len() as u64
    }

    /// True for an empty file.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes at which new members end (what the next publish can copy).
    pub fn members_end(&self) -> u64 {
        self.members_end
    }

    /// The object's bytes `range`.
    fn read(&self, range: Range<u64>) -> std::io::Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let mut out = Vec::with_capacity((range.end - range.start) as usize);
        if range.start < self.members_end {
            let to = range.end.min(self.members_end);
            out.resize((to - range.start) as usize, 0);
            self.spool.read_exact_at(&mut out, range.start)?;
        }
        if range.end > self.members_end {
            let from = (range.start.max(self.members_end) - self.members_end) as usize;
            out.extend_from_slice(&self.tail[from..(range.end - self.members_end) as usize]);
        }
        Ok(out)
    }
}

/// Counters of one log's uploads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UploadStats {
    /// Publishes that sent the whole object.
    pub whole: u64,
    /// Publishes composed from the previous object.
    pub composed: u64,
    /// Body bytes sent (first attempts).
    pub bytes_sent: u64,
    /// Bytes S3 copied from the previous object instead.
    pub bytes_copied: u64,
}

/// One log's object in S3, kept equal to the spool's last published flush.
#[derive(Debug)]
pub struct LogObject {
    client: S3Client,
    bucket: String,
    key: String,
    /// The object's ETag after our last publish (`None` before the first).
    etag: Option<String>,
    /// Members the object holds: its bytes up to here equal the spool's.
    published_members_end: u64,
    /// The first publish replaces whatever object has the key (else it needs none to).
    overwrite: bool,
    stats: UploadStats,
}

/// The part size for `len` bytes sent in parts: [`PART`], or more so that at most
/// [`MAX_PARTS`] parts are needed, in whole MiB.
fn part_size(len: u64) -> u64 {
    let mib = 1024 * 1024;
    let needed = len.div_ceil(MAX_PARTS - 1).div_ceil(mib) * mib;
    needed.clamp(PART, MAX_PART)
}

impl LogObject {
    /// The object `s3://bucket/key`. Nothing is sent yet: the first
    /// [`publish`](Self::publish) creates it, and fails if the key is taken.
    pub fn new(client: S3Client, bucket: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
            key: key.into(),
            etag: None,
            published_members_end: 0,
            overwrite: false,
            stats: UploadStats::default(),
        }
    }

    /// The first publish replaces the object only if it still has ETag `etag` (an object
    /// read earlier and rewritten, such as `examen score --overwrite`).
    #[must_use]
    pub fn replacing(mut self, etag: String) -> Self {
        self.etag = Some(etag);
        self
    }

    /// The first publish replaces any object with the key.
    #[must_use]
    pub fn overwriting(mut self) -> Self {
        self.overwrite = true;
        self
    }

    /// `s3://bucket/key`.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// Counters so far.
    pub fn stats(&self) -> UploadStats {
        self.stats
    }

    /// True once this writer has published the object.
    pub fn is_published(&self) -> bool {
        self.etag.is_some() && self.stats.whole + self.stats.composed > 0
    }

    fn composes(&self, snapshot: &Frozen) -> bool {
        self.etag.is_some()
            && self.published_members_end >= MIN_PART
            && snapshot.members_end >= self.published_members_end
    }

    /// Bytes publishing `snapshot` would send.
    pub fn cost(&self, snapshot: &Frozen) -> u64 {
        if self.composes(snapshot) {
            snapshot.len() - self.published_members_end
        } else {
            snapshot.len()
        }
    }

    /// Whether publishing `snapshot` now is worth its cost: always first, else when it would
    /// send at most twice its new member bytes.
    pub fn worth_publishing(&self, snapshot: &Frozen) -> bool {
        let new = snapshot
            .members_end
            .saturating_sub(self.published_members_end);
        !self.is_published() || (new > 0 && self.cost(snapshot) <= 2 * new)
    }

    /// Makes the object `snapshot` (see the module docs). On any failure the object keeps
    /// the previous publish; a conflict (someone else changed or created the object) is
    /// [`S3ErrorKind::Conflict`].
    pub async fn publish(&mut self, snapshot: &Frozen) -> Result<(), S3Error> {
        if self.composes(snapshot) {
            self.compose(snapshot).await?;
            self.stats.composed += 1;
        } else {
            self.send_whole(snapshot).await?;
            self.stats.whole += 1;
        }
        self.published_members_end = snapshot.members_end;
        Ok(())
    }

    async fn read(&self, snapshot: &Frozen, range: Range<u64>) -> Result<Bytes, S3Error> {
        let snapshot = snapshot.clone();
        let url = self.url();
        examen_rt::to_thread(move || snapshot.read(range))
            .await
            .map(Bytes::from)
            .map_err(|e| {
                S3Error::new(
                    S3ErrorKind::Other,
                    url,
                    format!("reading the log's local copy: {e}"),
                )
            })
    }

    fn condition(&self) -> Condition {
        match &self.etag {
            None if self.overwrite => Condition::None,
            None => Condition::Absent,
            Some(etag) => Condition::Matches(etag.clone()),
        }
    }

    async fn send_whole(&mut self, snapshot: &Frozen) -> Result<(), S3Error> {
        let len = snapshot.len();
        let condition = self.condition();
        if len <= SINGLE_PUT {
            let body = self.read(snapshot, 0..len).await?;
            self.stats.bytes_sent += len;
            let etag = self
                .client
                .put(&self.bucket, &self.key, body, &condition)
                .await?;
            self.etag = Some(etag);
            return Ok(());
        }
        let upload = self
            .client
            .create_multipart(&self.bucket, &self.key)
            .await?;
        let result = self
            .upload_parts(snapshot, &upload, 0, 1, Vec::new(), &condition)
            .await;
        self.settle(&upload, result).await
    }

    async fn compose(&mut self, snapshot: &Frozen) -> Result<(), S3Error> {
        let condition = self.condition();
        let Some(etag) = self.etag.clone() else {
            return self.send_whole(snapshot).await;
        };
        let upload = self
            .client
            .create_multipart(&self.bucket, &self.key)
            .await?;
        let result = async {
            // The members already there, copied in as few parts as S3 allows (each at most
            // 5 GiB, at least 5 MiB).
            let prefix = self.published_members_end;
            let count = prefix.div_ceil(MAX_PART);
            let mut parts = Vec::new();
            let mut at = 0;
            for i in 0..count {
                let end = if i + 1 == count {
                    prefix
                } else {
                    (prefix / count) * (i + 1)
                };
                let part = self
                    .client
                    .upload_part_copy(
                        &self.bucket,
                        &self.key,
                        &upload,
                        parts.len() as u32 + 1,
                        &self.key,
                        at,
                        end - 1,
                        &etag,
                    )
                    .await?;
                self.stats.bytes_copied += end - at;
                parts.push(part);
                at = end;
            }
            let next = parts.len() as u32 + 1;
            self.upload_parts(snapshot, &upload, prefix, next, parts, &condition)
                .await
        }
        .await;
        self.settle(&upload, result).await
    }

    /// Sends the object's bytes from `from` to its end as parts `first_number`... after
    /// `parts`, then completes the upload under `condition`.
    async fn upload_parts(
        &mut self,
        snapshot: &Frozen,
        upload: &str,
        from: u64,
        first_number: u32,
        mut parts: Vec<CompletedPart>,
        condition: &Condition,
    ) -> Result<String, S3Error> {
        let len = snapshot.len();
        let size = part_size(len - from);
        let mut at = from;
        let mut number = first_number;
        while at < len {
            // A last part shorter than the minimum would be refused if it were not last:
            // fold a small remainder into this part.
            let end = if len - at < size + MIN_PART {
                len
            } else {
                at + size
            };
            let body = self.read(snapshot, at..end).await?;
            self.stats.bytes_sent += end - at;
            parts.push(
                self.client
                    .upload_part(&self.bucket, &self.key, upload, number, body)
                    .await?,
            );
            number += 1;
            at = end;
        }
        self.client
            .complete_multipart(&self.bucket, &self.key, upload, &parts, condition)
            .await
    }

    /// Records a completed upload's ETag, or aborts the upload (shielded: it runs to the end
    /// even when the publish is cancelled) and returns the error.
    async fn settle(
        &mut self,
        upload: &str,
        result: Result<String, S3Error>,
    ) -> Result<(), S3Error> {
        match result {
            Ok(etag) => {
                self.etag = Some(etag);
                Ok(())
            }
            Err(e) => {
                let (client, bucket, key, upload) = (
                    self.client.clone(),
                    self.bucket.clone(),
                    self.key.clone(),
                    upload.to_owned(),
                );
                // Shielded, so a cancelled publish still frees its parts; best effort: an
                // upload left behind is found and aborted by the next run of the log
                // (`abort_stale_uploads`).
                let _ = examen_rt::shield(async move {
                    client.abort_multipart(&bucket, &key, &upload).await
                })
                .await;
                Err(e)
            }
        }
    }
}

/// Aborts the multipart uploads left in progress for `key` (by a writer that died mid-flush),
/// so their parts stop costing storage. Returns how many.
pub async fn abort_stale_uploads(
    client: &S3Client,
    bucket: &str,
    key: &str,
) -> Result<usize, S3Error> {
    let uploads = client.list_multipart_uploads(bucket, key).await?;
    let mut aborted = 0;
    for upload in uploads.iter().filter(|u| u.key == key) {
        client
            .abort_multipart(bucket, &upload.key, &upload.upload_id)
            .await?;
        aborted += 1;
    }
    Ok(aborted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_sizes_stay_within_s3_limits() {
        assert_eq!(part_size(1), PART);
        // 1 TiB needs parts over 100 MiB to stay under 10,000 parts.
        let tib = 1u64 << 40;
        let size = part_size(tib);
        assert!(tib.div_ceil(size) < MAX_PARTS, "{size}");
        assert!(size <= MAX_PART);
    }

    #[test]
    fn frozen_flush_reads_members_then_directory_then_end_records() {
        use std::io::Write;
        let mut spool = tempfile::tempfile().unwrap();
        // members "MMMM", room "....", directory "DD"
        spool.write_all(b"MMMM....DD").unwrap();
        let snapshot = Snapshot {
            members_end: 4,
            directory: 8..10,
            end_records: b"EE".to_vec(),
        };
        let frozen = Frozen::capture(Arc::new(spool), &snapshot).unwrap();
        assert_eq!(frozen.len(), 8);
        assert_eq!(frozen.read(0..8).unwrap(), b"MMMMDDEE");
        assert_eq!(frozen.read(3..7).unwrap(), b"MDDE");
    }
}
