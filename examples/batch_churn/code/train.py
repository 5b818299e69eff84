"""Script-mode training job (seed 004): an XGBoost binary classifier of churn.

Runs unchanged on SageMaker or stackyard: hyperparameters arrive as ``--name value``,
paths as ``SM_*`` environment variables. It prints ``validation-auc`` and
``validation-logloss`` for the metric definitions, and saves the booster (XGBoost JSON)
with the feature order it was trained on. The ``*_fn`` functions at the bottom serve it
(endpoints and batch transform): CSV rows in, one churn probability per row out.
"""

import argparse
import io
import json
import os
import shutil

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import log_loss, roc_auc_score

MODEL_FILE = "xgboost-model.json"
FEATURES_FILE = "features.json"


def read_csv(folder):
    frames = [pd.read_csv(os.path.join(folder, f), header=None)
              for f in sorted(os.listdir(folder)) if f.endswith(".csv")]
    df = pd.concat(frames)
    return df.iloc[:, 1:].to_numpy(dtype=float), df.iloc[:, 0].to_numpy(dtype=int)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--max_depth", type=int, default=4)
    parser.add_argument("--eta", type=float, default=0.1)
    parser.add_argument("--num_round", type=int, default=150)
    parser.add_argument("--subsample", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("SM_NUM_CPUS", "1")))
    parser.add_argument("--model-dir", type=str, default=os.environ["SM_MODEL_DIR"])
    parser.add_argument("--train", type=str, default=os.environ["SM_CHANNEL_TRAIN"])
    parser.add_argument("--validation", type=str, default=os.environ["SM_CHANNEL_VALIDATION"])
    args = parser.parse_args()

    X, y = read_csv(args.train)
    X_val, y_val = read_csv(args.validation)
    model = xgb.XGBClassifier(n_estimators=args.num_round, max_depth=args.max_depth,
                              learning_rate=args.eta, subsample=args.subsample,
                              objective="binary:logistic", random_state=args.seed,
                              n_jobs=args.threads)
    model.fit(X, y)
    p = model.predict_proba(X_val)[:, 1]
    print(f"validation-auc:{roc_auc_score(y_val, p):.4f}; "
          f"validation-logloss:{log_loss(y_val, p):.4f};")

    model.save_model(os.path.join(args.model_dir, MODEL_FILE))
    shutil.copy(os.path.join(args.train, FEATURES_FILE), args.model_dir)


# ---- inference: SageMaker's model server contract -------------------------------------
def model_fn(model_dir):
    model = xgb.XGBClassifier()
    model.load_model(os.path.join(model_dir, MODEL_FILE))
    with open(os.path.join(model_dir, FEATURES_FILE)) as f:
        model.feature_order_ = json.load(f)
    return model


def input_fn(input_data, content_type):
    if content_type != "text/csv":
        raise ValueError(f"unsupported content type {content_type}; send text/csv rows")
    text = input_data.decode() if isinstance(input_data, bytes) else input_data
    return np.atleast_2d(np.loadtxt(io.StringIO(text), delimiter=",", dtype=float, ndmin=2))


def predict_fn(input_data, model):
    width = len(model.feature_order_)
    if input_data.shape[1] != width:
        raise ValueError(f"expected {width} features ({', '.join(model.feature_order_)}), "
                         f"got {input_data.shape[1]}")
    return model.predict_proba(input_data)[:, 1]


def output_fn(prediction, accept):
    return "".join(f"{p:.6f}\n" for p in prediction), "text/csv"
