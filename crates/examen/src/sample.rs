//! Samples: one input with its target(s), choices, id and metadata (Inspect's `Sample` and
//! `Target`, defined in examen-types), and the digest a retry tells changed samples by.

use examen_types::JsonObject;
use serde::Serialize;

pub use examen_types::{Sample, SampleId, SampleInput, Target};

/// A digest of what the sample asks and expects (input, target, choices, metadata), as
/// 16 hex digits: a retry compares it with the one its log recorded, so that a sample
/// changed since the run is not carried over as if it were the same (FNV-1a 64 of the
/// fields' JSON; stable across runs, platforms and versions).
///
/// The order of the choices does not count: with `shuffle_choices` and no seed, each
/// load orders them anew (and remaps letter targets to match), and a sample with its
/// choices in another order is still the same question. Letter targets are taken as the
/// choices they name.
pub fn digest(sample: &Sample) -> String {
    #[derive(Serialize)]
    struct Canonical<'a> {
        input: &'a SampleInput,
        target: Vec<String>,
        choices: Option<Vec<&'a str>>,
        metadata: &'a Option<JsonObject>,
    }
    let mut target = sample.target.as_list();
    let mut choices = None;
    if let Some(list) = &sample.choices {
        for t in &mut target {
            let chosen = crate::scorer::rules::answer_index(t)
                .ok()
                .and_then(|i| list.get(i));
            if let Some(chosen) = chosen {
                *t = format!("choice:{chosen}");
            }
        }
        target.sort();
        let mut sorted: Vec<&str> = list.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        choices = Some(sorted);
    }
    let canonical = Canonical {
        input: &sample.input,
        target,
        choices,
        metadata: &sample.metadata,
    };
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    // Serializing these plain values cannot fail; an empty text would still hash.
    for byte in serde_json::to_vec(&canonical).unwrap_or_default() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_change_with_the_sample_and_not_with_choice_order() {
        let base = Sample::new("q", "A").with_choices(["right", "wrong"]);
        let first = digest(&base);
        assert_eq!(first.len(), 16);
        assert_eq!(first, digest(&base.clone()));
        // The same question with its choices shuffled (and its letter target remapped).
        let shuffled = Sample::new("q", "B").with_choices(["wrong", "right"]);
        assert_eq!(first, digest(&shuffled));
        for changed in [
            Sample::new("q2", "A").with_choices(["right", "wrong"]),
            Sample::new("q", "B").with_choices(["right", "wrong"]),
            Sample::new("q", "A").with_choices(["right", "other"]),
            base.clone().with_metadata(JsonObject::new()),
        ] {
            assert_ne!(first, digest(&changed), "{changed:?}");
        }
        // The id is not part of it (a retry matches samples by id).
        assert_eq!(first, digest(&base.clone().with_id(7)));
    }
}
