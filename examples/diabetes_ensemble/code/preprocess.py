"""Processing job: split the raw diabetes table into train / validation / test CSVs, and
write a drift baseline of the training features (statistics.json, constraints.json).

Reads and writes the literal container paths, exactly as it would on SageMaker.
Output CSVs have the target in the first column and no header (the XGBoost convention).
"""

import argparse
import json
import os

import pandas as pd
from sklearn.model_selection import train_test_split

BASE = "/opt/ml/processing"

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--test-size", type=float, default=0.2)
    parser.add_argument("--validation-size", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    df = pd.read_csv(f"{BASE}/input/diabetes.csv")
    df = df[["target"] + [c for c in df.columns if c != "target"]]
    rest, test = train_test_split(df, test_size=args.test_size, random_state=args.seed)
    train, validation = train_test_split(
        rest, test_size=args.validation_size / (1 - args.test_size), random_state=args.seed)
    for name, part in (("train", train), ("validation", validation), ("test", test)):
        os.makedirs(f"{BASE}/{name}", exist_ok=True)
        part.to_csv(f"{BASE}/{name}/{name}.csv", header=False, index=False)
        print(f"{name}: {len(part)} rows")

    features = train.drop(columns=["target"])
    os.makedirs(f"{BASE}/baseline", exist_ok=True)
    stats = {"dataset": {"item_count": len(features)}, "features": [
        {"name": c, "inferred_type": "Fractional", "numerical_statistics": {
            "mean": float(features[c].mean()), "std_dev": float(features[c].std()),
            "min": float(features[c].min()), "max": float(features[c].max()),
            "num_missing": int(features[c].isna().sum())}} for c in features.columns]}
    constraints = {"version": 0.0, "features": [
        {"name": c, "inferred_type": "Fractional", "completeness": 1.0}
        for c in features.columns]}
    with open(f"{BASE}/baseline/statistics.json", "w") as f:
        json.dump(stats, f, indent=1)
    with open(f"{BASE}/baseline/constraints.json", "w") as f:
        json.dump(constraints, f, indent=1)
