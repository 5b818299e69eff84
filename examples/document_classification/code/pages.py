"""The pages of the seed-003 example and what the three models share.

A "scanned stack" of mortgage documents, built from data that ships with the Python
packages installed anyway, so the example needs no download:

* each page's **bitmap** is an 8x8 image from scikit-learn's digits set: every document
  type prints two digits of its own (its "letterhead"), with scanner noise; some pages show
  an unrelated figure (a stamp, a chart) that says nothing about the type;
* each page's **OCR text** is a window of words from Python's own help topics
  (``pydoc_data.topics``, the text ``help()`` shows), every document type owning its own
  share of the topics, with OCR character errors; some pages are nearly empty.

Pages are labelled by document type and page position (``page_no`` of ``n_pages``). First
pages carry the letterhead (their bitmap is reliable), later pages carry most of the text,
and last pages are signature pages with little text: neither base model is good on every
page, and a sequence model that sees the neighbouring pages is.
"""

import os
import tarfile

import numpy as np
import pandas as pd

DOC_TYPES = ["contract", "payslip", "bank-statement", "id-document", "land-register"]
PIXELS = [f"px{i}" for i in range(64)]
META = ["doc_id", "page_no", "n_pages", "doc_type"]


def _topics_by_type(rng):
    from pydoc_data.topics import topics

    names = sorted(topics)
    rng.shuffle(names)
    return [[topics[n].split() for n in names[i::len(DOC_TYPES)]]
            for i in range(len(DOC_TYPES))]


def _ocr(words, rng, error_rate):
    text = list(" ".join(words))
    for i in np.flatnonzero(rng.random(len(text)) < error_rate):
        text[i] = rng.choice(list("abcdefghijklmnopqrstuvwxyz0123456789 .,"))
    return "".join(text)


def make_pages(n_docs=500, seed=0):
    """One row per page: META, ``text`` and the 64 pixels (0..16 as in the digits set)."""
    from sklearn.datasets import load_digits

    rng = np.random.default_rng(seed)
    digits = load_digits()
    by_digit = {d: digits.images[digits.target == d].reshape(-1, 64) for d in range(10)}
    topics = _topics_by_type(rng)
    rows = []
    for doc_id in range(n_docs):
        t = int(rng.integers(len(DOC_TYPES)))
        n_pages = int(rng.integers(2, 7))
        for page_no in range(1, n_pages + 1):
            first, last = page_no == 1, page_no == n_pages
            # the bitmap: the type's own digit, or (often, on inner pages) any figure
            unrelated = rng.random() < (0.15 if first else 0.6)
            digit = int(rng.integers(10)) if unrelated else 2 * t + int(rng.integers(2))
            img = by_digit[digit][rng.integers(len(by_digit[digit]))].astype(float)
            img = np.clip(img + rng.normal(0, 4.0, 64), 0, 16)
            # the text: a window of the type's topics; short on first and last pages
            n_words = int(rng.integers(2, 6)) if (last or first) else int(rng.integers(8, 30))
            words = topics[t][rng.integers(len(topics[t]))]
            start = int(rng.integers(max(1, len(words) - n_words)))
            text = _ocr(words[start:start + n_words], rng, 0.08)
            rows.append([doc_id, page_no, n_pages, t, text, *np.round(img, 2)])
    return pd.DataFrame(rows, columns=[*META, "text", *PIXELS])


def read_pages(folder):
    return pd.read_csv(os.path.join(folder, "pages.csv"), keep_default_na=False)


def model_folder(channel):
    """A training channel that holds another job's ``model.tar.gz`` (or its files), as a
    folder of those files. The archive's members are checked before anything is written:
    plain files and folders only, each inside the target (no links, no absolute paths,
    no ``..``)."""
    archives = [f for f in sorted(os.listdir(channel)) if f.endswith(".tar.gz")]
    if not archives:
        return channel
    target = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"model-{os.getpid()}-"
                          f"{os.path.basename(channel.rstrip('/'))}")
    root = os.path.realpath(target)
    with tarfile.open(os.path.join(channel, archives[0])) as tar:
        members = tar.getmembers()
        for m in members:
            dest = os.path.realpath(os.path.join(root, m.name))
            if not (m.isfile() or m.isdir()) or not dest.startswith(root + os.sep):
                raise ValueError(f"refusing archive member {m.name!r} of {archives[0]}")
        os.makedirs(root, exist_ok=True)
        for m in members:
            dest = os.path.join(root, m.name)
            if m.isdir():
                os.makedirs(dest, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with tar.extractfile(m) as src, open(dest, "wb") as out:
                out.write(src.read())
    return root


def proba_columns(prefix):
    return [f"{prefix}_{t}" for t in DOC_TYPES]
