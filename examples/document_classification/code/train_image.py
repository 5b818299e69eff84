"""Training job: the image model, a logistic regression on the 64 pixels of each page's
8x8 bitmap. Script mode, as ``train_text.py``."""

import base_model
import pages
from sklearn.linear_model import LogisticRegression

if __name__ == "__main__":
    args = base_model.arguments(C=(float, 0.1), max_iter=(int, 2000))
    model = LogisticRegression(C=args.C, max_iter=args.max_iter)
    base_model.train(args, "image", model, lambda df: df[pages.PIXELS].to_numpy() / 16)


def model_fn(model_dir):
    return base_model.load(model_dir)


def predict_fn(input_data, model):
    """Rows of 64 pixels (0..16) in, one probability per document type and page out."""
    import numpy as np

    return model.predict_proba(np.asarray(input_data, dtype=float) / 16).tolist()
