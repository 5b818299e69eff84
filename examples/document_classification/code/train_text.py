"""Training job: the text model, TF-IDF over character n-grams (robust to OCR errors) and
a logistic regression. Script mode: ``--C`` and ``--max_iter`` arrive as arguments, the
pages as ``SM_CHANNEL_TRAIN`` / ``SM_CHANNEL_TEST``. ``C`` must be positive: the demo's
forced failure passes ``-1``."""

import os

import base_model
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

if __name__ == "__main__":
    args = base_model.arguments(C=(float, 10.0), max_iter=(int, 300))
    if args.C <= 0:
        output = os.path.dirname(os.environ.get("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data"))
        with open(os.path.join(output, "failure"), "w") as f:  # the job's failure reason
            f.write(f"text model: C must be positive, got {args.C}")
        raise SystemExit(f"C must be positive, got {args.C}")
    model = make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3), sublinear_tf=True, min_df=2,
                        max_features=20000),
        LogisticRegression(C=args.C, max_iter=args.max_iter))
    base_model.train(args, "text", model, lambda df: df.text)


def model_fn(model_dir):
    return base_model.load(model_dir)


def predict_fn(input_data, model):
    """A list of page texts in, one probability per document type and page out."""
    return model.predict_proba(list(input_data)).tolist()
