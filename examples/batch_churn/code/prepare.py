"""Processing job: the churn table in, what training and baselining need out.

* ``train`` / ``validation`` / ``test``: label first, no header (the XGBoost convention),
  a stratified 70/15/15 split; ``train/features.json`` names the columns in order, so the
  model knows what each number it scores means.
* ``baseline``: the training rows' features with a header and no label: the data-quality
  baseline is computed on exactly what a day's batch holds.

Reads and writes the literal container paths, as it would on SageMaker.
"""

import argparse
import glob
import json
import os

import pandas as pd
from sklearn.model_selection import train_test_split

BASE = "/opt/ml/processing"
LABEL = "Churn"

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--test-size", type=float, default=0.15)
    parser.add_argument("--validation-size", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    (path,) = glob.glob(f"{BASE}/input/*.csv")
    df = pd.read_csv(path)
    df[LABEL] = df[LABEL].map({True: 1, False: 0, "True": 1, "False": 0}).astype(int)
    features = [c for c in df.columns if c != LABEL]
    rest, test = train_test_split(df, test_size=args.test_size, random_state=args.seed,
                                  stratify=df[LABEL])
    train, validation = train_test_split(
        rest, test_size=args.validation_size / (1 - args.test_size), random_state=args.seed,
        stratify=rest[LABEL])
    for name, part in (("train", train), ("validation", validation), ("test", test)):
        os.makedirs(f"{BASE}/{name}", exist_ok=True)
        part[[LABEL, *features]].to_csv(f"{BASE}/{name}/{name}.csv", header=False, index=False)
        print(f"{name}: {len(part)} rows, churn rate {part[LABEL].mean():.3f}")
    with open(f"{BASE}/train/features.json", "w") as f:
        json.dump(features, f)
    os.makedirs(f"{BASE}/baseline", exist_ok=True)
    train[features].to_csv(f"{BASE}/baseline/baseline.csv", index=False)
    print(f"baseline: {len(train)} rows x {len(features)} features")
