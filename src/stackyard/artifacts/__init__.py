"""KEEP: immutable, content-addressed artifacts with atomic writes; the one safe tar reader;
publishing to user destinations without touching what is already there."""

from stackyard.artifacts._cas import (
    building,
    checkout,
    content_hash,
    fetch,
    files_digest,
    is_remote,
    put_bytes,
    put_file,
    put_tree,
    sha256_file,
    to_uri,
    tree_digest,
    tree_files,
    uri_to_path,
    verified_tree,
    verify,
)
from stackyard.artifacts._publish import publish
from stackyard.artifacts._tar import check_tar, unpack_tar

__all__ = [
    "building",
    "check_tar",
    "checkout",
    "content_hash",
    "fetch",
    "files_digest",
    "is_remote",
    "publish",
    "put_bytes",
    "put_file",
    "put_tree",
    "sha256_file",
    "to_uri",
    "tree_digest",
    "tree_files",
    "unpack_tar",
    "uri_to_path",
    "verified_tree",
    "verify",
]
