"""Script-mode training job (seed 001): CatBoost + XGBoost in ONE job, with k-fold CV.

Runs unchanged on SageMaker or stackyard: hyperparameters arrive as ``--name value``,
paths as ``SM_*`` environment variables. Both models are trained on every fold (out-of-fold
RMSE is reported per model), then refit on all training rows; the ensemble is their mean.
The ``*_fn`` functions at the bottom serve the saved ensemble.
"""

import argparse
import io
import json
import os

import numpy as np
import pandas as pd
import xgboost as xgb
from catboost import CatBoostRegressor
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import KFold

CATBOOST_FILE = "catboost-regressor-model.cbm"
XGBOOST_FILE = "xgboost-model.json"


def rmse(y, p):
    return float(np.sqrt(mean_squared_error(y, p)))


def read_csv(folder):
    frames = [pd.read_csv(os.path.join(folder, f), header=None)
              for f in sorted(os.listdir(folder)) if f.endswith(".csv")]
    df = pd.concat(frames)
    return df.iloc[:, 1:].to_numpy(), df.iloc[:, 0].to_numpy()


def make_catboost(args):
    return CatBoostRegressor(iterations=args.num_round, depth=args.max_depth,
                             learning_rate=args.eta, verbose=0, random_seed=args.seed,
                             thread_count=args.threads, allow_writing_files=False)


def make_xgboost(args):
    return xgb.XGBRegressor(n_estimators=args.num_round, max_depth=args.max_depth,
                            learning_rate=args.eta, objective=args.objective,
                            random_state=args.seed, n_jobs=args.threads)


def cross_validate(make, X, y, k, seed):
    scores = []
    for tr, va in KFold(k, shuffle=True, random_state=seed).split(X):
        model = make().fit(X[tr], y[tr])
        scores.append(rmse(y[va], model.predict(X[va])))
    return scores


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--eta", type=float, default=0.1)
    parser.add_argument("--max_depth", type=int, default=3)
    parser.add_argument("--num_round", type=int, default=200)
    parser.add_argument("--k_fold", type=int, default=5)
    parser.add_argument("--objective", type=str, default="reg:squarederror")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("SM_NUM_CPUS", "1")))
    parser.add_argument("--output-data-dir", type=str, default=os.environ["SM_OUTPUT_DATA_DIR"])
    parser.add_argument("--model-dir", type=str, default=os.environ["SM_MODEL_DIR"])
    parser.add_argument("--train", type=str, default=os.environ["SM_CHANNEL_TRAIN"])
    parser.add_argument("--validation", type=str, default=os.environ["SM_CHANNEL_VALIDATION"])
    args = parser.parse_args()

    X, y = read_csv(args.train)
    X_val, y_val = read_csv(args.validation)

    cat_cv = cross_validate(lambda: make_catboost(args), X, y, args.k_fold, args.seed)
    xgb_cv = cross_validate(lambda: make_xgboost(args), X, y, args.k_fold, args.seed)
    print(f"catboost cv-rmse:{np.mean(cat_cv):.4f}; xgboost cv-rmse:{np.mean(xgb_cv):.4f};")

    cat = make_catboost(args).fit(X, y)
    xgbm = make_xgboost(args).fit(X, y)
    pred = np.mean([cat.predict(X_val), xgbm.predict(X_val)], axis=0)
    val_rmse = rmse(y_val, pred)
    print(f"catboost validation-rmse-member:{rmse(y_val, cat.predict(X_val)):.4f};")
    print(f"xgboost validation-rmse-member:{rmse(y_val, xgbm.predict(X_val)):.4f};")
    print(f"Final evaluation result: validation-rmse:{val_rmse:.4f};")

    cat.save_model(os.path.join(args.model_dir, CATBOOST_FILE))
    xgbm.save_model(os.path.join(args.model_dir, XGBOOST_FILE))
    with open(os.path.join(args.output_data_dir, "cv.json"), "w") as f:
        json.dump({"catboost": cat_cv, "xgboost": xgb_cv, "validation_rmse": val_rmse}, f)


# ---- inference: SageMaker's model server contract -------------------------------------
def model_fn(model_dir):
    cat = CatBoostRegressor()
    cat.load_model(os.path.join(model_dir, CATBOOST_FILE))
    xgbm = xgb.XGBRegressor()
    xgbm.load_model(os.path.join(model_dir, XGBOOST_FILE))
    return [cat, xgbm]


def input_fn(input_data, content_type):
    if content_type == "text/csv":
        text = input_data.decode() if isinstance(input_data, bytes) else input_data
        return np.atleast_2d(np.genfromtxt(io.StringIO(text), delimiter=","))
    if content_type == "application/json":
        return np.atleast_2d(np.asarray(json.loads(input_data), dtype=float))
    raise ValueError(f"unsupported content type {content_type}")


def predict_fn(input_data, model):
    return np.mean([m.predict(input_data) for m in model], axis=0)


def output_fn(prediction, accept):
    if accept == "application/json":
        return json.dumps(prediction.tolist()), accept
    return "\n".join(str(float(p)) for p in prediction), "text/csv"
