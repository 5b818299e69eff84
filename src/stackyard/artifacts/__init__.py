"""KEEP: immutable, content-addressed artifacts with atomic writes; the one safe tar reader;
publishing to user destinations without touching what is already there."""

from stackyard.artifacts._cas import (
    building,
    checkout,
    content_hash,
    fetch,
    is_remote,
    json_digest,
    put_bytes,
    put_file,
    put_tree,
    sha256_file,
    to_uri,
    tree_digest,
    uri_to_path,
    verify,
)
from stackyard.artifacts._code import code_hash, ignore_in_code
from stackyard.artifacts._publish import atomic_file, publish
from stackyard.artifacts._tar import check_tar, unpack_tar

__all__ = [
    "atomic_file",
    "building",
    "check_tar",
    "checkout",
    "code_hash",
    "content_hash",
    "fetch",
    "ignore_in_code",
    "is_remote",
    "json_digest",
    "publish",
    "put_bytes",
    "put_file",
    "put_tree",
    "sha256_file",
    "to_uri",
    "tree_digest",
    "unpack_tar",
    "uri_to_path",
    "verify",
]
