//! Where logs live: local directories and `s3://bucket/prefix`, behind one small interface.
//!
//! - [`Location`] is a log directory or file, local or in S3, parsed from what a user typed.
//! - [`Store`] does what the log commands need at a location: list with size and mtime, read
//!   a header without fetching the whole log ([`Store::read_header`]: the end of the file,
//!   then the header member), fetch a local copy, upload a finished file, delete.
//! - [`s3`] holds the S3 side: SigV4-signed requests over examen-http ([`s3::S3Client`],
//!   native on tokio and smol), the credential chain, and [`s3::LogObject`], which mirrors a
//!   log being written into one object with each flush costing only its new bytes.
//!
//! The local side is the file system through `examen_rt::to_thread`; the `.eval` writer
//! itself stays in examen-log and writes a local file (for S3, a spool that
//! [`s3::LogObject`] publishes).

#![warn(missing_docs, missing_debug_implementations)]
// Libraries never print: progress and warnings reach the user through the caller.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod s3;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use examen_http::Bytes;
use examen_log::{EvalLog, HeaderRead, LogFormat, PartialFile};

pub use s3::{Condition, S3Error};

/// A log directory or log file: a local path or `s3://bucket/key`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Location {
    /// A local path.
    Local(PathBuf),
    /// An S3 object or prefix.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key or prefix, without a leading `/` (`""` for the bucket's root).
        key: String,
    },
}

/// A location that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The text is not a location.
    #[error("`{0}`: {1}")]
    Invalid(String, String),
    /// A local file or directory failed.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    /// S3 said no.
    #[error(transparent)]
    S3(#[from] S3Error),
    /// The log itself could not be read.
    #[error(transparent)]
    Log(#[from] examen_log::LogError),
}

impl StoreError {
    /// True when the object or file does not exist.
    pub fn is_not_found(&self) -> bool {
        match self {
            StoreError::Io(_, e) => e.kind() == std::io::ErrorKind::NotFound,
            StoreError::S3(e) => e.is_not_found(),
            _ => false,
        }
    }
}

impl Location {
    /// Parses `s3://bucket/key` (any other text is a local path).
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let Some(rest) = text.strip_prefix("s3://") else {
            return Ok(Location::Local(PathBuf::from(text)));
        };
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        let valid = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !valid {
            return Err(StoreError::Invalid(
                text.to_owned(),
                "expected s3://BUCKET/PREFIX, where BUCKET is 3-63 lowercase letters, digits, dots and hyphens"
                    .into(),
            ));
        }
        Ok(Location::S3 {
            bucket: bucket.to_owned(),
            key: key.trim_start_matches('/').to_owned(),
        })
    }

    /// A location from a local path or a path whose text is `s3://...`.
    pub fn from_path(path: &Path) -> Result<Self, StoreError> {
        match path.to_str() {
            Some(text) if text.starts_with("s3://") => Self::parse(text),
            _ => Ok(Location::Local(path.to_owned())),
        }
    }

    /// True for S3.
    pub fn is_s3(&self) -> bool {
        matches!(self, Location::S3 { .. })
    }

    /// The local path, if local.
    pub fn as_local(&self) -> Option<&Path> {
        match self {
            Location::Local(path) => Some(path),
            Location::S3 { .. } => None,
        }
    }

    /// `name` inside this directory.
    pub fn join(&self, name: &str) -> Location {
        match self {
            Location::Local(path) => Location::Local(path.join(name)),
            Location::S3 { bucket, key } => Location::S3 {
                bucket: bucket.clone(),
                key: if key.is_empty() || key.ends_with('/') {
                    format!("{key}{name}")
                } else {
                    format!("{key}/{name}")
                },
            },
        }
    }

    /// The last component (a log's file name).
    pub fn file_name(&self) -> Option<String> {
        match self {
            Location::Local(path) => path.file_name().map(|n| n.to_string_lossy().into_owned()),
            Location::S3 { key, .. } => key
                .rsplit('/')
                .next()
                .filter(|n| !n.is_empty())
                .map(str::to_owned),
        }
    }

    /// The directory holding this file.
    pub fn parent(&self) -> Location {
        match self {
            Location::Local(path) => {
                Location::Local(path.parent().map(Path::to_owned).unwrap_or_default())
            }
            Location::S3 { bucket, key } => Location::S3 {
                bucket: bucket.clone(),
                key: key
                    .rsplit_once('/')
                    .map(|(dir, _)| dir.to_owned())
                    .unwrap_or_default(),
            },
        }
    }

    /// The log format its name says.
    pub fn format(&self) -> Option<LogFormat> {
        LogFormat::from_path(Path::new(&self.file_name()?))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(path) => write!(f, "{}", path.display()),
            Location::S3 { bucket, key } if key.is_empty() => write!(f, "s3://{bucket}"),
            Location::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

/// A log file found by [`Store::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Where it is.
    pub location: Location,
    /// Bytes.
    pub size: u64,
    /// Last modified.
    pub modified: SystemTime,
}

/// A local copy of a log: the file itself when it is local, else a download in a temporary
/// directory (removed when this is dropped), under the log's own file name.
#[derive(Debug)]
pub struct LocalCopy {
    path: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl LocalCopy {
    /// The local file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The log stores of one process: the local file system, and S3 (its client is made on first
/// use, from the environment, and shared).
#[derive(Debug, Clone, Default)]
pub struct Store {
    s3: Arc<OnceLock<Result<s3::S3Client, String>>>,
}

/// Bytes fetched from the end of a log first: the end records and, for most logs, the whole
/// central directory.
const TAIL: u64 = 64 * 1024;

impl Store {
    /// A store that makes its S3 client from the environment when first needed.
    pub fn from_env() -> Self {
        Self::default()
    }

    /// A store using `client` for S3.
    pub fn with_s3(client: s3::S3Client) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(Ok(client));
        Self { s3: Arc::new(cell) }
    }

    /// The S3 client.
    pub fn s3(&self) -> Result<&s3::S3Client, StoreError> {
        match self
            .s3
            .get_or_init(|| s3::client_from_env().map_err(|e| e.to_string()))
        {
            Ok(client) => Ok(client),
            Err(e) => Err(StoreError::Invalid("s3://".into(), e.clone())),
        }
    }

    /// Every `.eval` and `.json` log under `dir` (recursively).
    pub async fn list(&self, dir: &Location) -> Result<Vec<Listed>, StoreError> {
        match dir {
            Location::Local(path) => {
                let path = path.clone();
                examen_rt::to_thread(move || {
                    let mut out = Vec::new();
                    list_local(&path, &mut out)
                        .map_err(|e| StoreError::Io(path.display().to_string(), e))?;
                    Ok(out)
                })
                .await
            }
            Location::S3 { bucket, key } => {
                let prefix = if key.is_empty() || key.ends_with('/') {
                    key.clone()
                } else {
                    format!("{key}/")
                };
                let objects = self.s3()?.list(bucket, &prefix, true).await?;
                Ok(objects
                    .into_iter()
                    .filter(|o| LogFormat::from_path(Path::new(&o.key)).is_some())
                    .map(|o| Listed {
                        location: Location::S3 {
                            bucket: bucket.clone(),
                            key: o.key,
                        },
                        size: o.size,
                        modified: o.last_modified,
                    })
                    .collect())
            }
        }
    }

    /// Whether `dir` exists as a directory (an S3 prefix always does).
    pub async fn is_dir(&self, dir: &Location) -> bool {
        match dir {
            Location::Local(path) => path.is_dir(),
            Location::S3 { .. } => true,
        }
    }

    /// A log's header (status `started` for a running log) and its number of samples, with
    /// the fewest bytes read: for a remote `.eval`, its last 64 KiB and then the members the
    /// header needs; a `.json` log is read whole.
    pub async fn read_header(&self, log: &Location) -> Result<(EvalLog, usize), StoreError> {
        let (bucket, key) = match log {
            Location::S3 { bucket, key } if log.format() == Some(LogFormat::Eval) => (bucket, key),
            _ => {
                let copy = self.fetch_local(log).await?;
                return examen_rt::to_thread(move || {
                    let reader = examen_log::LogReader::open(copy.path())?;
                    Ok((reader.header().clone(), reader.sample_count()))
                })
                .await;
            }
        };
        let client = self.s3()?;
        let tail = client.get(bucket, key, Some(&format!("-{TAIL}"))).await?;
        let total = tail.total_size;
        let mut partial = PartialFile::new(log.to_string(), total);
        partial.add(total - tail.bytes.len() as u64, tail.bytes.to_vec());
        // Each round fetches what the last attempt found missing (at least 64 KiB of it); a
        // log needs two or three.
        for _ in 0..16 {
            match partial.read_header()? {
                HeaderRead::Header { log, samples } => return Ok((*log, samples)),
                HeaderRead::Need(range) => {
                    let end = (range.start + (range.end - range.start).max(TAIL)).min(total);
                    let part = client
                        .get(bucket, key, Some(&format!("{}-{}", range.start, end - 1)))
                        .await?;
                    partial.add(range.start, part.bytes.to_vec());
                }
            }
        }
        Err(StoreError::Invalid(
            log.to_string(),
            "its header could not be located".into(),
        ))
    }

    /// The log as a local file: itself, or a download.
    pub async fn fetch_local(&self, log: &Location) -> Result<LocalCopy, StoreError> {
        match log {
            Location::Local(path) => Ok(LocalCopy {
                path: path.clone(),
                _dir: None,
            }),
            Location::S3 { bucket, key } => {
                let fetched = self.s3()?.get(bucket, key, None).await?;
                let name = log.file_name().unwrap_or_else(|| "log".into());
                examen_rt::to_thread(move || {
                    let dir = tempfile::Builder::new()
                        .prefix("examen-s3-")
                        .tempdir()
                        .map_err(|e| StoreError::Io("a temporary directory".into(), e))?;
                    let path = dir.path().join(&name);
                    std::fs::write(&path, &fetched.bytes)
                        .map_err(|e| StoreError::Io(path.display().to_string(), e))?;
                    Ok(LocalCopy {
                        path,
                        _dir: Some(dir),
                    })
                })
                .await
            }
        }
    }

    /// Reads a whole small file (a manifest, a state file).
    pub async fn read(&self, file: &Location) -> Result<Bytes, StoreError> {
        match file {
            Location::Local(path) => {
                let path = path.clone();
                examen_rt::to_thread(move || {
                    std::fs::read(&path)
                        .map(Bytes::from)
                        .map_err(|e| StoreError::Io(path.display().to_string(), e))
                })
                .await
            }
            Location::S3 { bucket, key } => Ok(self.s3()?.get(bucket, key, None).await?.bytes),
        }
    }

    /// Puts the local file `from` at `to` (for S3, whole, if `condition` holds); a local
    /// destination is written to a temporary file and renamed over it.
    pub async fn upload_file(
        &self,
        from: &Path,
        to: &Location,
        condition: &Condition,
    ) -> Result<(), StoreError> {
        match to {
            Location::Local(dest) => {
                let (from, dest) = (from.to_owned(), dest.clone());
                examen_rt::to_thread(move || {
                    if from != dest {
                        let temp = dest.with_extension("upload.tmp");
                        std::fs::copy(&from, &temp)
                            .map_err(|e| StoreError::Io(temp.display().to_string(), e))?;
                        std::fs::rename(&temp, &dest)
                            .map_err(|e| StoreError::Io(dest.display().to_string(), e))?;
                    }
                    Ok(())
                })
                .await
            }
            Location::S3 { bucket, key } => {
                let file = std::fs::File::open(from)
                    .map_err(|e| StoreError::Io(from.display().to_string(), e))?;
                let whole = s3::Frozen::whole(file)
                    .map_err(|e| StoreError::Io(from.display().to_string(), e))?;
                let mut object = s3::LogObject::new(self.s3()?.clone(), bucket, key);
                if let Condition::Matches(etag) = condition {
                    object = object.replacing(etag.clone());
                } else if *condition == Condition::None {
                    object = object.overwriting();
                }
                object.publish(&whole).await?;
                Ok(())
            }
        }
    }

    /// The object's current ETag (`None` when there is none, or for local files).
    pub async fn version(&self, file: &Location) -> Result<Option<String>, StoreError> {
        match file {
            Location::Local(_) => Ok(None),
            Location::S3 { bucket, key } => Ok(self.s3()?.head(bucket, key).await?.map(|i| i.etag)),
        }
    }

    /// Deletes a file (no error when it is already gone).
    pub async fn delete(&self, file: &Location) -> Result<(), StoreError> {
        match file {
            Location::Local(path) => {
                let path = path.clone();
                examen_rt::to_thread(move || match std::fs::remove_file(&path) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(StoreError::Io(path.display().to_string(), e)),
                })
                .await
            }
            Location::S3 { bucket, key } => Ok(self.s3()?.delete(bucket, key).await?),
        }
    }
}

fn list_local(dir: &Path, out: &mut Vec<Listed>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if path.is_dir() {
            list_local(&path, out)?;
        } else if LogFormat::from_path(&path).is_some() {
            let meta = entry.metadata()?;
            out.push(Listed {
                location: Location::Local(path),
                size: meta.len(),
                modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_s3_and_local_locations() {
        assert_eq!(
            Location::parse("s3://my-bucket/logs/run1").unwrap(),
            Location::S3 {
                bucket: "my-bucket".into(),
                key: "logs/run1".into()
            }
        );
        assert_eq!(
            Location::parse("s3://my-bucket").unwrap().to_string(),
            "s3://my-bucket"
        );
        assert_eq!(
            Location::parse("logs").unwrap(),
            Location::Local("logs".into())
        );
        let err = Location::parse("s3://My_Bucket/x").unwrap_err().to_string();
        assert!(err.contains("expected s3://BUCKET/PREFIX"), "{err}");
        let dir = Location::parse("s3://b-1/logs/").unwrap();
        assert_eq!(dir.join("a.eval").to_string(), "s3://b-1/logs/a.eval");
        let file = Location::parse("s3://b-1/logs/a.eval").unwrap();
        assert_eq!(file.file_name().as_deref(), Some("a.eval"));
        assert_eq!(file.parent().to_string(), "s3://b-1/logs");
        assert_eq!(file.format(), Some(LogFormat::Eval));
    }
}
