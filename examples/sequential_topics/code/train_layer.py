"""Training job for one layer of the sequential topic model (script mode).

``--layer 1``: choose the embedding and the UMAP/BIRCH settings by Bayesian search (Optuna
TPE) with k-fold cross-validation, then fit layer 1 on every document and require 15-25
topics. The loss of a setting, averaged over the held-out folds, is

    loss = -NPMI + 0.5 * balance

where NPMI is the mean normalised PMI of each topic's top words counted over the held-out
documents, and balance is 1 - (entropy of the held-out topic sizes / log of the topic
count): 0 when all topics are the same size, 1 when one topic takes everything.

``--layer 2`` and ``--layer 3``: unpack the previous layer's model (channel ``previous``),
read the revised mapping the callback answered with (channel ``mapping``), and fit a layer
on the documents of the topics the mapping marks for splitting only (fewer than 20 such
documents, or a previous layer that was never trained: no new layer, the model so far
carries on with the mapping's topic names). Every layer writes the
whole model so far (``layers.SequentialTopicModel.save``) plus each layer's document
assignments; the last one also writes ``check.json``: texts and the topics the model in
memory predicts for them, to compare with the saved model after loading.

Prints ``layer-topics:N; cv-loss:X;`` for the metric definitions.
"""

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import embed
import layers
import numpy as np
from modelfiles import extract

SPLIT_MIN_DOCS = 20


def read_docs(folder: str) -> list[dict]:
    with open(Path(folder) / "docs.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def cv_loss(texts, emb, params, folds, seed):
    from sklearn.model_selection import KFold

    losses = []
    for train, held in KFold(folds, shuffle=True, random_state=seed).split(texts):
        model, _ = layers.fit_layer([texts[i] for i in train], emb[train], params, seed)
        topics, _ = model.transform([texts[i] for i in held], embeddings=emb[held])
        words = [[w for w, _ in model.get_topic(t)] for t in sorted(set(model.topics_))]
        held_words = [set(texts[i].split()) | _bigrams(texts[i]) for i in held]
        losses.append(-layers.npmi(words, held_words)
                      + 0.5 * layers.balance_penalty(list(topics)))
    return float(np.mean(losses))


def _bigrams(text: str) -> set[str]:
    w = text.split()
    return {f"{a} {b}" for a, b in itertools.pairwise(w)}


def tune(texts, args):
    """Bayesian search over the embedding and UMAP/BIRCH settings; the best setting."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    choices = embed.available() if args.embedding == "auto" else [args.embedding]
    embedders, embeddings = {}, {}
    for name in choices:
        start = time.process_time()
        embedders[name] = embed.embedder(name, texts, args.seed)
        embeddings[name] = embedders[name].encode(texts)
        print(f"embedding {name}: {len(texts)} documents in "
              f"{time.process_time() - start:.1f} s of CPU", flush=True)

    def objective(trial):
        start = time.process_time()
        params = {"embedding": trial.suggest_categorical("embedding", choices),
                  "n_neighbors": trial.suggest_int("n_neighbors", 5, 30),
                  "n_components": trial.suggest_int("n_components", 2, 10),
                  "threshold": trial.suggest_float("threshold", 0.05, 1.0, log=True),
                  "n_clusters": trial.suggest_int("n_clusters", args.min_topics,
                                                  args.max_topics)}
        loss = cv_loss(texts, embeddings[params["embedding"]], params, args.folds, args.seed)
        print(f"trial {trial.number}: {json.dumps(params)} cv-loss {loss:.4f} "
              f"({time.process_time() - start:.1f} s of CPU)", flush=True)
        return loss

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(
        seed=args.seed, n_startup_trials=min(3, args.trials), multivariate=True))
    for name in choices[:args.trials]:     # each embedding is tried (TPE may never pick one)
        study.enqueue_trial({"embedding": name})
    study.optimize(objective, n_trials=args.trials)
    best = dict(study.best_params)
    return best, study.best_value, embedders[best["embedding"]], [
        {"params": t.params, "loss": t.value} for t in study.trials]


def layer_one(docs, args, out: Path):
    texts = [d["text"] for d in docs]
    params, loss, embedder, trials = tune(texts, args)
    emb = embedder.encode(texts)             # remembered from the tuning: no second pass
    model, topics = layers.fit_layer(texts, emb, params, args.seed,
                                     topic_range=(args.min_topics, args.max_topics))
    table = layers.topic_table(model, topics, emb)
    (out / "tuning.json").write_text(json.dumps({"best": params, "cv_loss": loss,
                                                 "trials": trials}, indent=1))
    # the documents' embeddings, for layers 2 and 3 (no second pass of the model)
    np.save(out / "doc_embeddings.npy", emb, allow_pickle=False)
    (out / "doc_ids.json").write_text(json.dumps([d["id"] for d in docs]))
    print(f"layer 1: {json.dumps(params)}")
    return layers.SequentialTopicModel(embedder, [model], [], [table]), topics, loss


def next_layer(docs, args, out: Path):
    prev_dir = extract(Path(args.previous) / "model.tar.gz", Path(tempfile.mkdtemp()))
    prev = layers.SequentialTopicModel.load(prev_dir)
    k, built = args.layer, len(prev.layers)
    if built > k - 1:
        sys.exit(f"layer {k}: the previous model has {built} layer(s), expected at most "
                 f"{k - 1}")
    mapping_files = sorted(Path(args.mapping).glob("*.json"))
    if len(mapping_files) != 1:
        sys.exit(f"layer {k}: expected one mapping JSON file in the mapping channel, "
                 f"found {[p.name for p in mapping_files]}")
    try:
        # a layer that was never trained (an earlier mapping split nothing) has no
        # topics, so its mapping must be empty
        mapping = layers.read_mapping(mapping_files[0],
                                      prev.tables[-1] if built == k - 1 else {})
    except layers.MappingError as e:
        sys.exit(f"layer {k}: {e}")
    marked = sorted(t for t, e in mapping.items() if e["split"])
    parent = (json.loads((prev_dir / f"layer{k - 1}" / "assignments.json").read_text())
              if marked else {})
    ids = [d["id"] for d in docs if str(parent.get(d["id"])) in marked]
    print(f"layer {k}: {len(ids)} documents of topic(s) {', '.join(marked) or 'none'} "
          f"marked for splitting")
    carried = ["tuning.json", "doc_embeddings.npy", "doc_ids.json",
               *(f"layer{i}/assignments.json" for i in range(1, built + 1))]
    for f in carried:
        (out / f).parent.mkdir(parents=True, exist_ok=True)
        (out / f).write_bytes((prev_dir / f).read_bytes())
    if len(ids) < SPLIT_MIN_DOCS:
        # nothing generic left to split: the model so far is the answer, not a failure;
        # it keeps the mapping's topic names
        print(f"layer {k}: the mapping marks {len(ids)} documents for splitting, under the "
              f"{SPLIT_MIN_DOCS} a layer needs; the model keeps its {built} layer(s)")
        names = [mapping] if built == k - 1 else []
        return layers.SequentialTopicModel(prev.embedder, prev.layers,
                                           [*prev.mappings, *names], prev.tables), [], []
    by_id = {d["id"]: d["text"] for d in docs}
    texts = [by_id[i] for i in ids]
    params = json.loads((prev_dir / "tuning.json").read_text())["best"]
    params = {**params, "n_clusters": max(2, min(len(marked) * args.clusters_per_topic,
                                                 len(texts) // 10))}
    row = {i: n for n, i in enumerate(json.loads((prev_dir / "doc_ids.json").read_text()))}
    everything = np.load(prev_dir / "doc_embeddings.npy", allow_pickle=False)
    prev.embedder.remember([by_id[i] for i in row], everything[list(row.values())])
    emb = everything[[row[i] for i in ids]]
    model, topics = layers.fit_layer(texts, emb, params, args.seed)
    model_all = layers.SequentialTopicModel(
        prev.embedder, [*prev.layers, model], [*prev.mappings, mapping],
        [*prev.tables, layers.topic_table(model, topics, emb)])
    return model_all, topics, ids


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layer", type=int, choices=(1, 2, 3), required=True)
    parser.add_argument("--last", type=int, default=3)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--embedding", default="auto")
    parser.add_argument("--min_topics", type=int, default=15)
    parser.add_argument("--max_topics", type=int, default=25)
    parser.add_argument("--clusters_per_topic", type=int, default=3)
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR"))
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--previous", default=os.environ.get("SM_CHANNEL_PREVIOUS"))
    parser.add_argument("--mapping", default=os.environ.get("SM_CHANNEL_MAPPING"))
    args = parser.parse_args()

    docs = read_docs(args.train)
    out = Path(args.model_dir)
    if args.layer == 1:
        model, topics, loss = layer_one(docs, args, out)
        ids = [d["id"] for d in docs]
    else:
        model, topics, ids = next_layer(docs, args, out)
        loss = 0.0
    if ids:
        (out / f"layer{args.layer}").mkdir(exist_ok=True)
        (out / f"layer{args.layer}" / "assignments.json").write_text(
            json.dumps(dict(zip(ids, topics, strict=True))))
    if args.layer == args.last:
        texts = [d["text"] for d in docs[:60]]
        (out / "check.json").write_text(json.dumps(
            {"texts": texts, "topics": model.predict(texts)}))
    model.save(out)
    for t, e in (model.tables[-1] if ids else {}).items():
        print(f"  topic {t}: {e['size']:4d} docs  {', '.join(e['keywords'][:6])}")
    print(f"layer-topics:{len(set(topics))}; cv-loss:{loss:.4f};")


if __name__ == "__main__":
    main()
