//! [`PreparedSample`]: a finished sample serialized for the log, with its
//! summary, before it reaches the [`LogWriter`](crate::LogWriter).
//!
//! Serializing a sample and summarizing it is most of what logging a sample
//! costs, and needs no writer: callers prepare samples on their own threads
//! (the engine does it on each sample's task) so the one writer only
//! compresses and appends.

use serde::Serialize;

use crate::error::{LogError, Result};
use crate::schema::{EvalSample, SampleHead, SampleId};
use crate::{pyjson, sample_member_name};

/// A sample as the log will hold it: its JSON and its summary's JSON.
#[derive(Debug, Clone)]
pub struct PreparedSample {
    pub(crate) id: SampleId,
    pub(crate) epoch: u32,
    pub(crate) json: Vec<u8>,
    pub(crate) summary: Vec<u8>,
}

impl PreparedSample {
    /// Prepares a sample of the log's own schema.
    pub fn from_sample(sample: &EvalSample) -> Result<Self> {
        let json = serialize(&sample.member_name(), sample)?;
        let summary = serialize("sample summary", &sample.summary())?;
        Ok(Self {
            id: sample.id.clone(),
            epoch: sample.epoch,
            json,
            summary,
        })
    }

    /// Prepares a value whose JSON is an `EvalSample`'s (a caller's own record
    /// type, say), without converting it to [`EvalSample`]: the JSON is written
    /// as `value` serializes, and the summary is read from that JSON, skipping
    /// the transcript. Fails, naming what is missing, when the JSON lacks the
    /// fields every sample has (`id`, `epoch`, `input`) or has one of the wrong
    /// type.
    pub fn from_json_of<T: Serialize + ?Sized>(value: &T) -> Result<Self> {
        let json = serialize("sample", value)?;
        let head: SampleHead = pyjson::from_slice(&json).map_err(|e| LogError::Sample {
            what: "sample".into(),
            reason: format!("not an EvalSample: {e}"),
        })?;
        Self::with_head(json, head)
    }

    /// [`from_json_of`](Self::from_json_of) with the summary made from `head`
    /// rather than read back from the sample's JSON: `head` serializes as the
    /// same sample without `messages`, `output`, `events`, `store` and
    /// `attachments`, plus `"message_count"`. Reading the summary back from a
    /// whole sample means scanning its transcript, which is most of its bytes.
    pub fn from_json_and_head<T, H>(value: &T, head: &H) -> Result<Self>
    where
        T: Serialize + ?Sized,
        H: Serialize + ?Sized,
    {
        let json = serialize("sample", value)?;
        let head_json = serialize("sample head", head)?;
        let head: SampleHead = pyjson::from_slice(&head_json).map_err(|e| LogError::Sample {
            what: "sample head".into(),
            reason: format!("not the head of an EvalSample: {e}"),
        })?;
        Self::with_head(json, head)
    }

    fn with_head(json: Vec<u8>, head: SampleHead) -> Result<Self> {
        let (id, epoch) = (head.id.clone(), head.epoch);
        let summary = serialize(&sample_member_name(&id, epoch), &head.into_summary())?;
        Ok(Self {
            id,
            epoch,
            json,
            summary,
        })
    }

    /// The sample's id.
    pub fn id(&self) -> &SampleId {
        &self.id
    }

    /// The sample's epoch.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The sample's JSON, as it will be written.
    pub fn json(&self) -> &[u8] {
        &self.json
    }

    /// Its summary's JSON, as it will be written.
    pub fn summary_json(&self) -> &[u8] {
        &self.summary
    }
}

fn serialize<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<Vec<u8>> {
    pyjson::to_vec(value).map_err(|e| LogError::Sample {
        what: what.to_owned(),
        reason: e.to_string(),
    })
}
