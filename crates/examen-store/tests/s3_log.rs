//! A log's object in S3 against a real S3-protocol server (moto, from `scripts/s3.sh`): whole
//! uploads below 5 MiB, server-side composition above, both conditional on the last ETag, so a
//! second writer gets a conflict instead of overwriting; multipart uploads left behind by a
//! dead writer are aborted.

use std::io::Write;
use std::sync::Arc;

mod support;

use examen_store::s3::{
    abort_stale_uploads, Condition, Credentials, Frozen, LogObject, S3Client, S3Config, SecretKey,
    StaticCredentials,
};

fn client() -> Option<S3Client> {
    let endpoint = support::s3_endpoint()?;
    let credentials = Credentials {
        access_key_id: "examen-test".into(),
        secret_access_key: SecretKey::new("examen-test-secret"),
        session_token: None,
        expires: None,
        source: "the tests".into(),
    };
    Some(
        S3Client::new(
            S3Config {
                endpoint: Some(endpoint),
                ..S3Config::default()
            },
            Arc::new(StaticCredentials(Some(credentials))),
        )
        .unwrap(),
    )
}

async fn bucket(client: &S3Client, name: &str) -> String {
    let backend = examen_rt::current_backend().map_or("none", |b| b.name());
    let bucket = format!("{name}-{backend}-{}", std::process::id());
    client.create_bucket(&bucket).await.unwrap();
    bucket
}

/// A spool file holding `bytes`, frozen whole.
fn frozen(bytes: &[u8]) -> (tempfile::NamedTempFile, Frozen) {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(bytes).unwrap();
    file.flush().unwrap();
    let frozen = Frozen::whole(std::fs::File::open(file.path()).unwrap()).unwrap();
    (file, frozen)
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

async fn object(client: &S3Client, bucket: &str, key: &str) -> Vec<u8> {
    client.get(bucket, key, None).await.unwrap().bytes.to_vec()
}

#[examen_rt::test]
async fn a_second_writer_gets_a_conflict_and_overwrites_nothing() {
    let Some(client) = client() else { return };
    let bucket = bucket(&client, "conflict").await;
    let key = "logs/a.eval";
    let mut first = LogObject::new(client.clone(), &bucket, key);
    let (_f1, one) = frozen(b"first version");
    first.publish(&one).await.unwrap();
    // Another writer creating the same log: refused, and the object is untouched.
    let mut second = LogObject::new(client.clone(), &bucket, key);
    let (_f2, other) = frozen(b"second writer");
    let err = second.publish(&other).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(
        err.to_string()
            .contains("another writer changed this object"),
        "{err}"
    );
    assert_eq!(object(&client, &bucket, key).await, b"first version");
    // The first writer goes on; then someone replaces the object behind its back.
    let (_f3, two) = frozen(b"first version, flushed again");
    first.publish(&two).await.unwrap();
    client
        .put(
            &bucket,
            key,
            b"edited elsewhere".to_vec().into(),
            &Condition::None,
        )
        .await
        .unwrap();
    let (_f4, three) = frozen(b"first version, flushed a third time");
    let err = first.publish(&three).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(object(&client, &bucket, key).await, b"edited elsewhere");
}

#[examen_rt::test]
async fn large_logs_are_composed_server_side_and_conflicts_still_caught() {
    let Some(client) = client() else { return };
    let bucket = bucket(&client, "compose").await;
    let key = "logs/big.eval";
    let mut writer = LogObject::new(client.clone(), &bucket, key);
    let six_mib = pattern(6 << 20, 1);
    let (_a, first) = frozen(&six_mib);
    writer.publish(&first).await.unwrap();
    assert_eq!(writer.stats().whole, 1);
    // The log grows by 1 MiB: only the new bytes are sent, the rest is copied by S3.
    let mut grown = six_mib.clone();
    grown.extend(pattern(1 << 20, 7));
    let (_b, second) = frozen(&grown);
    let sent_before = writer.stats().bytes_sent;
    writer.publish(&second).await.unwrap();
    let stats = writer.stats();
    assert_eq!(stats.composed, 1, "{stats:?}");
    assert_eq!(stats.bytes_sent - sent_before, 1 << 20);
    assert_eq!(stats.bytes_copied, 6 << 20);
    assert_eq!(object(&client, &bucket, key).await, grown);
    // Changed by someone else: the composed upload is refused at completion (or at the
    // copy), the object keeps their version, and no multipart upload is left behind.
    client
        .put(&bucket, key, b"replaced".to_vec().into(), &Condition::None)
        .await
        .unwrap();
    let mut more = grown.clone();
    more.extend(pattern(1 << 20, 9));
    let (_c, third) = frozen(&more);
    let err = writer.publish(&third).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(object(&client, &bucket, key).await, b"replaced");
    for _ in 0..100 {
        if client
            .list_multipart_uploads(&bucket, key)
            .await
            .unwrap()
            .is_empty()
        {
            return;
        }
        examen_rt::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the failed upload was not aborted");
}

#[examen_rt::test]
async fn uploads_left_by_a_dead_writer_are_aborted() {
    let Some(client) = client() else { return };
    let bucket = bucket(&client, "stale").await;
    let key = "logs/dead.eval";
    let upload = client.create_multipart(&bucket, key).await.unwrap();
    client
        .upload_part(&bucket, key, &upload, 1, pattern(1024, 3).into())
        .await
        .unwrap();
    let other = client
        .create_multipart(&bucket, "logs/other.eval")
        .await
        .unwrap();
    assert_eq!(abort_stale_uploads(&client, &bucket, key).await.unwrap(), 1);
    let left = client
        .list_multipart_uploads(&bucket, "logs/")
        .await
        .unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].upload_id, other);
}
