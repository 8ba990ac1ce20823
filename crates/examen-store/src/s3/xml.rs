//! S3's XML response bodies, read with quick-xml's serde support.

use serde::Deserialize;

/// `ListObjectsV2`'s answer.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct ListBucketResult {
    pub(crate) contents: Vec<ListedObject>,
    pub(crate) common_prefixes: Vec<CommonPrefix>,
    pub(crate) is_truncated: bool,
    pub(crate) next_continuation_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct ListedObject {
    pub(crate) key: String,
    pub(crate) last_modified: String,
    #[serde(rename = "ETag")]
    pub(crate) etag: String,
    pub(crate) size: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct CommonPrefix {
    pub(crate) prefix: String,
}

/// `CreateMultipartUpload`'s answer.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct InitiateMultipartUploadResult {
    pub(crate) upload_id: String,
}

/// The answer of `CompleteMultipartUpload` and of `UploadPartCopy` (`CopyPartResult`): both
/// carry the new ETag. (A `CompleteMultipartUpload` that fails late answers 200 with an `Error`
/// body, read by [`Error`].)
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct WithETag {
    #[serde(rename = "ETag")]
    pub(crate) etag: String,
}

/// `ListMultipartUploads`'s answer.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct ListMultipartUploadsResult {
    pub(crate) upload: Vec<ListedUpload>,
    pub(crate) is_truncated: bool,
    pub(crate) next_key_marker: Option<String>,
    pub(crate) next_upload_id_marker: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct ListedUpload {
    pub(crate) key: String,
    pub(crate) upload_id: String,
    pub(crate) initiated: String,
}

/// S3's error body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct Error {
    pub(crate) code: String,
    pub(crate) message: String,
    pub(crate) region: Option<String>,
}

pub(crate) fn parse<'de, T: Deserialize<'de>>(body: &'de str) -> Result<T, String> {
    quick_xml::de::from_str(body).map_err(|e| format!("unreadable XML from S3: {e}"))
}

/// Escapes text for an XML element.
pub(crate) fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

/// STS's error body (`<ErrorResponse><Error>...`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct StsError {
    pub(crate) error: Error,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_listing_page() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>logs/</Prefix>
<KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>
<NextContinuationToken>tok</NextContinuationToken>
<Contents><Key>logs/a.eval</Key><LastModified>2026-12-04T10:00:00.000Z</LastModified><ETag>&quot;abc&quot;</ETag><Size>123</Size><StorageClass>STANDARD</StorageClass></Contents>
<Contents><Key>logs/b.eval</Key><LastModified>2026-12-04T10:00:01.000Z</LastModified><ETag>"def-2"</ETag><Size>7</Size></Contents>
<CommonPrefixes><Prefix>logs/sub/</Prefix></CommonPrefixes></ListBucketResult>"#;
        let page: ListBucketResult = parse(body).unwrap();
        assert!(page.is_truncated);
        assert_eq!(page.next_continuation_token.as_deref(), Some("tok"));
        assert_eq!(page.contents.len(), 2);
        assert_eq!(page.contents[0].etag, "\"abc\"");
        assert_eq!(page.contents[1].size, 7);
        assert_eq!(page.common_prefixes[0].prefix, "logs/sub/");
    }

    #[test]
    fn reads_an_error() {
        let body = "<Error><Code>PermanentRedirect</Code><Message>use the other one</Message><Region>eu-west-1</Region></Error>";
        let err: Error = parse(body).unwrap();
        assert_eq!(err.code, "PermanentRedirect");
        assert_eq!(err.region.as_deref(), Some("eu-west-1"));
    }
}
