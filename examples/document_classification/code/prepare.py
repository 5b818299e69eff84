"""Processing job (seed 003, "fetch preprocessed data"): build the scanned pages and split
them by document, a quarter of the documents held out, so no document has pages on both
sides. Writes ``/opt/ml/processing/{train,test}/pages.csv``."""

import argparse
import os

import pages

OUT = "/opt/ml/processing/pages"

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n-docs", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    df = pages.make_pages(args.n_docs, args.seed)
    held_out = df.doc_id % 4 == 0
    for name, part in (("train", df[~held_out]), ("test", df[held_out])):
        os.makedirs(f"{OUT}/{name}", exist_ok=True)
        part.to_csv(f"{OUT}/{name}/pages.csv", index=False)
        print(f"{name}: {part.doc_id.nunique()} documents, {len(part)} pages")
