"""What the text and image training jobs share: fit on the training pages, and keep the
probabilities the sequence model learns from. Out-of-fold probabilities for the training
pages (5 folds grouped by document, so a page is never scored by a model that saw its
document) and held-out probabilities for the test pages, both in the model folder."""

import argparse
import os

import joblib
import numpy as np
import pages
from sklearn.model_selection import GroupKFold, cross_val_predict


def arguments(**hyperparameters):
    parser = argparse.ArgumentParser()
    for name, (kind, default) in hyperparameters.items():
        parser.add_argument(f"--{name}", type=kind, default=default)
    parser.add_argument("--model-dir", default=os.environ["SM_MODEL_DIR"])
    parser.add_argument("--pages", default=os.environ["SM_CHANNEL_PAGES"])
    return parser.parse_args()


def train(args, prefix, model, features):
    tr = pages.read_pages(os.path.join(args.pages, "train"))
    te = pages.read_pages(os.path.join(args.pages, "test"))
    X, X_test = features(tr), features(te)
    oof = cross_val_predict(model, X, tr.doc_type, groups=tr.doc_id, cv=GroupKFold(5),
                            method="predict_proba")
    model.fit(X, tr.doc_type)
    test = model.predict_proba(X_test)
    cols = pages.proba_columns(prefix)
    for name, meta, p in (("oof", tr, oof), ("test", te, test)):
        out = meta[pages.META].reset_index(drop=True)
        out[cols] = p
        out.to_csv(os.path.join(args.model_dir, f"{name}.csv"), index=False)
    joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))
    # what the metric definitions read
    print(f"oof-accuracy={np.mean(oof.argmax(1) == tr.doc_type):.4f};")
    print(f"test-accuracy={np.mean(test.argmax(1) == te.doc_type):.4f};")


def load(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))
