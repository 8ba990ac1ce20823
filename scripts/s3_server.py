"""A real S3-protocol server on 127.0.0.1 for examen's tests and benchmarks: moto's S3 and STS.

    python scripts/s3_server.py --port 0 --state /tmp/examen-s3/state.json

moto (PyPI, in the venv scripts/inspect-venv.sh makes) serves the S3 API. This wraps its WSGI app
with two things of our own:

- request body byte counting: the bytes the server actually reads from request bodies, in total,
  per HTTP method and per bucket (tests running at once each use a bucket of their own), at `GET /_examen/stats` (JSON) and reset by `POST /_examen/stats/reset`, so
  tests and the benchmark measure what a log's flushes upload;
- two conditional requests that AWS S3 documents and moto 5.2.6 ignores: `If-Match` on
  CompleteMultipartUpload (412 PreconditionFailed when the object's ETag differs, 404 NoSuchKey
  when there is no object; https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html)
  and `x-amz-copy-source-if-match` on UploadPartCopy (412 when the source's ETag differs;
  https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPartCopy.html). examen's writer relies
  on both so two writers never silently overwrite each other; real S3 enforces them.

moto's signature checking stays off (its default): requests are parsed, not authenticated. The
state file holds {"port", "endpoint", "pid"} once the server listens.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
from urllib.parse import parse_qs, unquote

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.core import DEFAULT_ACCOUNT_ID
from werkzeug.serving import make_server

STATS_LOCK = threading.Lock()
STATS = {"body_bytes": 0, "requests": 0, "by_method": {}, "by_bucket": {}}


def reset_stats() -> None:
    with STATS_LOCK:
        STATS["body_bytes"] = 0
        STATS["requests"] = 0
        STATS["by_method"] = {}
        STATS["by_bucket"] = {}


class CountingInput:
    """wsgi.input that adds what is read to the stats."""

    def __init__(self, inner, method: str, bucket: str):
        self.inner = inner
        self.method = method
        self.bucket = bucket

    def _count(self, data: bytes) -> bytes:
        if data:
            with STATS_LOCK:
                STATS["body_bytes"] += len(data)
                by = STATS["by_method"]
                by[self.method] = by.get(self.method, 0) + len(data)
                buckets = STATS["by_bucket"]
                buckets[self.bucket] = buckets.get(self.bucket, 0) + len(data)
        return data

    def read(self, *args):
        return self._count(self.inner.read(*args))

    def readline(self, *args):
        return self._count(self.inner.readline(*args))

    def readlines(self, *args):
        lines = self.inner.readlines(*args)
        for line in lines:
            self._count(line)
        return lines

    def __iter__(self):
        for chunk in self.inner:
            yield self._count(chunk)


def s3_error(start_response, status: str, code: str, message: str):
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    ).encode()
    start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body]


def current_etag(bucket: str, key: str) -> str | None:
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    try:
        obj = backend.get_object(bucket, key)
    except Exception:  # noqa: BLE001 - a missing bucket or key is "no object"
        return None
    return None if obj is None else obj.etag.strip('"')


def bucket_and_key(path: str) -> tuple[str, str]:
    # Path-style addressing (the tests' endpoint is an IP address).
    parts = unquote(path).lstrip("/").split("/", 1)
    return parts[0], parts[1] if len(parts) > 1 else ""


def make_app():
    moto_app = DomainDispatcherApplication(create_backend_app)

    def app(environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        if path == "/_examen/stats":
            with STATS_LOCK:
                body = json.dumps(STATS).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if path == "/_examen/stats/reset":
            reset_stats()
            start_response("204 No Content", [])
            return [b""]
        with STATS_LOCK:
            STATS["requests"] += 1
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        if "uploadId" in query:
            bucket, key = bucket_and_key(path)
            if_match = environ.get("HTTP_IF_MATCH")
            if method == "POST" and if_match:
                etag = current_etag(bucket, key)
                if etag is None:
                    return s3_error(start_response, "404 Not Found", "NoSuchKey", "The specified key does not exist.")
                if etag != if_match.strip('"'):
                    return s3_error(
                        start_response, "412 Precondition Failed", "PreconditionFailed",
                        "At least one of the pre-conditions you specified did not hold",
                    )
            source_if_match = environ.get("HTTP_X_AMZ_COPY_SOURCE_IF_MATCH")
            source = environ.get("HTTP_X_AMZ_COPY_SOURCE")
            if method == "PUT" and source and source_if_match:
                src_bucket, src_key = bucket_and_key(source.split("?", 1)[0])
                if current_etag(src_bucket, src_key) != source_if_match.strip('"'):
                    return s3_error(
                        start_response, "412 Precondition Failed", "PreconditionFailed",
                        "At least one of the pre-conditions you specified did not hold",
                    )
        environ["wsgi.input"] = CountingInput(environ["wsgi.input"], method, bucket_and_key(path)[0])
        return moto_app(environ, start_response)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--state", required=True)
    args = parser.parse_args()
    server = make_server("127.0.0.1", args.port, make_app(), threaded=True)
    port = server.server_port
    state = {"port": port, "endpoint": f"http://127.0.0.1:{port}", "pid": os.getpid()}
    tmp = args.state + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, args.state)
    server.serve_forever()


if __name__ == "__main__":
    main()
