"""KEEP: immutable, content-addressed artifacts with atomic writes."""

from stackyard.artifacts._cas import (
    content_hash,
    export,
    fetch,
    is_remote,
    put_bytes,
    put_file,
    put_tree,
    sha256_file,
    to_uri,
    tree_digest,
    uri_to_path,
    verify,
)

__all__ = [
    "content_hash",
    "export",
    "fetch",
    "is_remote",
    "put_bytes",
    "put_file",
    "put_tree",
    "sha256_file",
    "to_uri",
    "tree_digest",
    "uri_to_path",
    "verify",
]
