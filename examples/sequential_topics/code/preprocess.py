"""Processing job: read the opportunities, clean them (``textprep.clean``), write
``/opt/ml/processing/train/docs.jsonl`` (``id``, cleaned ``text``, the original ``raw`` text
and any labels the input carries).

Documents left empty (an empty line's fields, or nothing but template text and names) are
skipped and counted by id; fewer than ``--min-docs`` left fails the job saying so. A file
that is not UTF-8, or a line that is not a JSON object, fails it naming the file and line.
"""

import argparse
import json
import sys
from pathlib import Path

from textprep import DocumentError, clean, read_documents

IN, OUT = Path("/opt/ml/processing/input/data"), Path("/opt/ml/processing/train")

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--min-docs", type=int, default=50)
    args = parser.parse_args()
    try:
        docs = read_documents(IN)
    except DocumentError as e:
        sys.exit(f"preprocess: {e}")
    kept, empty = [], []
    for d in docs:
        text = clean(d["text"])
        (kept if text else empty).append({**d, "raw": d["text"], "text": text})
    if empty:
        print(f"preprocess: skipped {len(empty)} empty document(s): "
              f"{', '.join(d['id'] for d in empty[:10])}{' ...' if len(empty) > 10 else ''}")
    if len(kept) < args.min_docs:
        sys.exit(f"preprocess: {len(kept)} non-empty documents under the input; the topic "
                 f"layers need at least {args.min_docs}")
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "docs.jsonl", "w", encoding="utf-8") as f:
        for d in kept:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    print(f"preprocess: {len(kept)} documents cleaned")
