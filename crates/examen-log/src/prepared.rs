//! [`PreparedSample`]: a finished sample serialized for the log, with its
//! summary, before it reaches the [`LogWriter`](crate::LogWriter).
//!
//! Serializing a sample and summarizing it is most of what logging a sample
//! costs, and needs no writer: callers prepare samples on their own threads
//! (the engine does it on each sample's task) so the one writer only
//! compresses and appends.

use serde::Serialize;

use crate::error::{LogError, Result};
use crate::pyjson;
use crate::schema::{EvalSample, SampleId};

/// A sample as the log will hold it: its JSON and its summary's JSON.
#[derive(Debug, Clone)]
pub struct PreparedSample {
    pub(crate) id: SampleId,
    pub(crate) epoch: u32,
    pub(crate) json: Vec<u8>,
    pub(crate) summary: Vec<u8>,
}

impl PreparedSample {
    /// Prepares a sample of the log's own schema, condensed as Inspect's
    /// recorders write it ([`EvalSample::condensed`]): each distinct model-event
    /// input message and raw request message once in `events_data`, the events
    /// pointing into it. Every writer (eval, `examen score`, `log convert`,
    /// `eval-retry`) comes through here; the readers resolve it back.
    pub fn from_sample(sample: &EvalSample) -> Result<Self> {
        Self::from_owned(sample.clone())
    }

    /// [`from_sample`](Self::from_sample) for a sample the caller is done with: it is
    /// condensed in place rather than copied.
    pub fn from_owned(mut sample: EvalSample) -> Result<Self> {
        let summary = serialize("sample summary", &sample.summary())?;
        sample.condense();
        let json = serialize(&sample.member_name(), &sample)?;
        Ok(Self {
            id: sample.id,
            epoch: sample.epoch,
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
