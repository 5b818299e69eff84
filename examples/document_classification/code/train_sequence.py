"""Training job: the sequence model, stacked on the two base models. For each page it sees
both models' probabilities for the page itself, for the pages before and after it in the
same document, and averaged over the document, plus the page's position. It trains on
the base models' out-of-fold probabilities and is scored on the held-out pages, where it
is compared with each base model alone (``evaluation.json`` in the model folder, and the
metric lines the metric definitions read).

Channels: ``text`` and ``image`` hold the base models' ``model.tar.gz``."""

import argparse
import json
import os

import joblib
import numpy as np
import pages
import pandas as pd
from sklearn.linear_model import LogisticRegression


def features(df, prefixes):
    cols = [c for p in prefixes for c in pages.proba_columns(p)]
    doc = df.groupby("doc_id")[cols]
    return np.hstack([
        df[cols].to_numpy(),
        doc.shift(1).fillna(0).to_numpy(),       # the page before (none: zeros)
        doc.shift(-1).fillna(0).to_numpy(),      # the page after
        doc.transform("mean").to_numpy(),        # the whole document
        np.c_[df.page_no == 1, df.page_no == df.n_pages, df.page_no / df.n_pages],
    ])


def merged(model_dirs, name):
    frames = [pd.read_csv(os.path.join(d, f"{name}.csv")) for d in model_dirs]
    out = frames[0]
    for f in frames[1:]:
        out = out.merge(f, on=pages.META, validate="one_to_one")
    return out.sort_values(["doc_id", "page_no"]).reset_index(drop=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--model-dir", default=os.environ["SM_MODEL_DIR"])
    parser.add_argument("--text", default=os.environ["SM_CHANNEL_TEXT"])
    parser.add_argument("--image", default=os.environ["SM_CHANNEL_IMAGE"])
    args = parser.parse_args()

    dirs = [pages.model_folder(args.text), pages.model_folder(args.image)]
    train, test = merged(dirs, "oof"), merged(dirs, "test")
    prefixes = ["text", "image"]
    model = LogisticRegression(C=args.C, max_iter=2000)
    model.fit(features(train, prefixes), train.doc_type)
    y = test.doc_type.to_numpy()
    accuracy = {
        "text model": float(np.mean(test[pages.proba_columns("text")].to_numpy().argmax(1) == y)),
        "image model": float(np.mean(test[pages.proba_columns("image")].to_numpy().argmax(1) == y)),
        "sequence model (stacked)": float(np.mean(model.predict(features(test, prefixes)) == y)),
    }
    evaluation = {"held_out_pages": len(test),
                  "held_out_documents": int(test.doc_id.nunique()), "accuracy": accuracy}
    with open(os.path.join(args.model_dir, "evaluation.json"), "w") as f:
        json.dump(evaluation, f, indent=2)
    joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))
    print(f"text-accuracy={accuracy['text model']:.4f}; "
          f"image-accuracy={accuracy['image model']:.4f}; "
          f"sequence-accuracy={accuracy['sequence model (stacked)']:.4f};")


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))
