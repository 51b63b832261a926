"""Label files in S3 (moto): a print job's labels are fetched side by side, a missing one is None."""

from __future__ import annotations

from oms.adapters.aws import client
from oms.adapters.shipping import S3Documents
from tests.integration.conftest import Stack


def test_many_labels_are_fetched_at_once_and_a_missing_one_is_none(stack: Stack) -> None:
    bucket = "oms-labels-fetch-test"
    client("s3").create_bucket(Bucket=bucket)  # us-east-1 takes no location constraint
    documents = S3Documents(bucket)
    keys = [f"labels/P{n}-F1.pdf" for n in range(40)]
    for n, key in enumerate(keys):
        documents.put(key, f"%PDF-label-{n}".encode())

    found = documents.get_many([*keys, "labels/missing.pdf", keys[0]])

    assert [found[key] for key in keys] == [f"%PDF-label-{n}".encode() for n in range(40)]
    assert found["labels/missing.pdf"] is None and len(found) == 41
