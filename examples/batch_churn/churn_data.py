"""A synthetic telecom churn table (seed 004's data), made up here so the example needs no
download: 21 attributes per customer and a binary ``Churn`` that depends on them the way a
churn analyst would expect (month-to-month contracts, short tenure, high bills, fibre
without support and many support calls churn more).

Deterministic: the same seed gives the same bytes. Categorical attributes arrive as the
integer codes a feature-store export carries (the model and the monitor both see numbers):

* ``contract_type``: 0 month-to-month, 1 one year, 2 two year
* ``internet_service``: 0 none, 1 DSL, 2 fibre
* ``payment_method``: 0 electronic check, 1 mailed check, 2 bank transfer, 3 credit card
* every other flag: 0 no, 1 yes

Files:

* the training table, ``churn.csv``: a header, 5,000 rows, ``Churn`` (``True``/``False``) last;
* a day's batch, ``<day>/input/part-NNNN.parquet``: the same attributes without the label,
  drawn from the same population. ``drifted=True`` then shifts exactly two numeric
  attributes (``DRIFT``): every bill up (a price rise) and support calls up (an outage);
  nothing else changes.

Run ``python churn_data.py OUT_DIR`` to write the table and both days there.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

FEATURES = [
    "tenure_months", "contract_type", "monthly_charges", "total_charges",
    "internet_service", "phone_service", "multiple_lines", "online_security",
    "online_backup", "device_protection", "tech_support", "streaming_tv",
    "streaming_movies", "paperless_billing", "payment_method", "senior_citizen", "partner",
    "dependents", "support_calls", "data_usage_gb", "call_minutes",
]
LABEL = "Churn"
DRIFT = {"monthly_charges": 25.0, "support_calls": 3}
TRAINING_ROWS, TRAINING_SEED = 5000, 4
NORMAL_DAY, DRIFTED_DAY = "2024-07-01", "2024-07-02"
DAY_ROWS, DAY_FILES = 1000, 2


def customers(n: int, seed: int) -> pd.DataFrame:
    """``n`` customer profiles: the 21 attributes, in ``FEATURES`` order."""
    rng = np.random.default_rng(seed)

    def flag(p: float | np.ndarray) -> np.ndarray:
        return (rng.random(n) < p).astype(np.int64)

    senior = flag(0.16)
    partner = flag(0.48)
    dependents = flag(np.where(partner == 1, 0.45, 0.12))
    tenure = np.clip(np.rint(1 + 71 * rng.beta(0.7, 0.8, n)), 1, 72).astype(np.int64)
    long = tenure / 72
    contract = np.array([rng.choice(3, p=[0.75 - 0.5 * t, 0.15 + 0.15 * t, 0.10 + 0.35 * t])
                         for t in long], dtype=np.int64)
    phone = flag(0.9)
    multiple = phone * flag(0.45)
    internet = rng.choice(3, size=n, p=[0.2, 0.35, 0.45]).astype(np.int64)
    online = (internet > 0).astype(np.int64)
    security, backup, protection, support = (online * flag(p) for p in (0.35, 0.4, 0.4, 0.35))
    tv, movies = online * flag(0.45), online * flag(0.45)
    paperless = flag(0.6)
    payment = rng.choice(4, size=n, p=[0.34, 0.23, 0.22, 0.21]).astype(np.int64)
    monthly = (18 + 5 * phone + 5 * multiple + np.array([0.0, 25.0, 45.0])[internet]
               + 5 * (security + backup + protection + support) + 9 * (tv + movies)
               + rng.normal(0, 3, n))
    monthly = np.round(np.maximum(monthly, 15.0), 2)
    total = np.round(tenure * monthly * rng.uniform(0.95, 1.05, n), 2)
    calls = rng.poisson(1.0 + 0.8 * (internet == 2) + 0.6 * (support == 0) * online)
    usage = np.round(online * rng.lognormal(2.5 + 0.5 * (internet == 2) + 0.4 * (tv + movies),
                                            0.5), 1)
    minutes = np.round(phone * rng.gamma(4.0, 60.0, n), 1)
    columns = [tenure, contract, monthly, total, internet, phone, multiple, security, backup,
               protection, support, tv, movies, paperless, payment, senior, partner,
               dependents, calls.astype(np.int64), usage, minutes]
    return pd.DataFrame(dict(zip(FEATURES, columns, strict=True)))


def churn_probability(df: pd.DataFrame) -> np.ndarray:
    """The ground truth the model should learn (a logistic model of the attributes)."""
    logit = (-3.7 + 3.0 * (df.contract_type == 0) - 0.9 * (df.contract_type == 2)
             - 3.3 * df.tenure_months / 72 + 0.045 * (df.monthly_charges - 65)
             + 0.7 * df.support_calls + 1.0 * (df.internet_service == 2)
             - 0.9 * df.tech_support - 0.75 * df.online_security + 0.5 * df.paperless_billing
             + 0.9 * (df.payment_method == 0) + 0.5 * df.senior_citizen - 0.45 * df.partner
             - 0.45 * df.dependents)
    return 1 / (1 + np.exp(-logit.to_numpy()))


def training_table(n: int = TRAINING_ROWS, seed: int = TRAINING_SEED) -> pd.DataFrame:
    """The labelled history: attributes plus ``Churn`` (``True``/``False``) last."""
    df = customers(n, seed)
    rng = np.random.default_rng(seed + 1)
    df[LABEL] = np.where(rng.random(n) < churn_probability(df), "True", "False")
    return df


def day_batch(n: int, seed: int, drifted: bool = False) -> pd.DataFrame:
    """One day's customers to score (no label); ``drifted`` shifts exactly ``DRIFT``."""
    df = customers(n, seed)
    if drifted:
        for column, shift in DRIFT.items():
            df[column] = (df[column] + shift).round(2)
    return df


def _atomic(path: Path, write: object) -> Path:
    """Write through a temp file and rename, so two writers never leave half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)  # type: ignore[operator]
    os.replace(tmp, path)
    return path


def write_training(path: str | Path) -> Path:
    """``churn.csv`` at ``path`` (rewritten only when missing: it never changes)."""
    path = Path(path)
    if not path.exists():
        _atomic(path, lambda p: training_table().to_csv(p, index=False))
    return path


def write_day(folder: str | Path, day: str, drifted: bool = False, rows: int = DAY_ROWS,
              files: int = DAY_FILES) -> Path:
    """``<folder>/<day>/input/part-NNNN.parquet`` (``files`` files of the day's rows, each
    written only when missing: the same day always has the same rows); returns the day's
    folder, where the transform's ``predictions/`` will land."""
    seed = int(day.replace("-", ""))
    df = day_batch(rows, seed, drifted)
    day_dir = Path(folder) / day
    for i, part in enumerate(np.array_split(np.arange(rows), files)):
        target = day_dir / "input" / f"part-{i:04d}.parquet"
        if not target.exists():
            chunk = df.iloc[part].reset_index(drop=True)
            _atomic(target, lambda p, c=chunk: c.to_parquet(p, index=False))
    return day_dir


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "data")
    print(write_training(out / "churn.csv"))
    print(write_day(out / "days", NORMAL_DAY))
    print(write_day(out / "days", DRIFTED_DAY, drifted=True))
