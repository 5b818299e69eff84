"""One BERTopic layer, the revised mapping between layers, and the three-layer model.

A layer is BERTopic with every component passed explicitly: precomputed embeddings
(``embed.py``), UMAP (cosine, seeded) -> BIRCH -> CountVectorizer (English and
sales-process stop words, 1-2 grams) -> class-based TF-IDF. BIRCH's default threshold
(0.5) can leave fewer subclusters than ``n_clusters`` on small-scale UMAP output and so
collapse topics; the layer counts the topics it found, and
``fit_layer(..., topic_range=(15, 25))`` refuses a count outside the range, naming the
threshold to change.

The three-layer model predicts a final topic for a text: layer 1's topic, unless the
mapping after layer 1 marks it for splitting, then layer 2's, and likewise layer 3's. A
mapping that splits nothing ends the model there: it has one or two layers and predicts the
same way.

Save format (``save``/``load``): each layer's BERTopic as joblib (a pickle: UMAP's
transform needs its fitted nearest-neighbour index, which has no pickle-free format;
BERTopic's safetensors save drops UMAP and the clusterer, so loading it would assign
different topics), everything else as JSON or ``.npy`` without pickle, and a
``manifest.json`` with the sha256 of every file. ``load`` checks every file against the
manifest before it unpickles anything; use it on a folder the registry's ``download``
just extracted (that checks the archive against the sha256 recorded at registration).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import embed
import numpy as np

BERTOPIC_SERIES = "0.17."
MANIFEST = "manifest.json"
TOP_WORDS = 10
# Words of the sales process, not of a use case: kept out of the topics' keywords.
SALES_WORDS = ["budget", "customer", "need", "plan", "propose", "rfp", "urgent", "want",
               "lose", "look", "ask", "team", "service", "platform", "company", "project",
               "opportunity", "deal", "quarter", "contact"]


class MappingError(ValueError):
    """A revised mapping that cannot be used (named, with what is wrong)."""


def _bertopic() -> Any:
    try:
        import bertopic
    except ImportError:
        raise SystemExit("BERTopic is not installed: make install (pip install "
                         "-e '.[topics]' and pip install --no-deps bertopic==0.17.3)") from None
    if not bertopic.__version__.startswith(BERTOPIC_SERIES):
        raise SystemExit(f"bertopic {bertopic.__version__} is installed; this example is "
                         f"pinned to {BERTOPIC_SERIES}x (pip install --no-deps "
                         "bertopic==0.17.3)")
    return bertopic


@functools.cache
def cache_umap_kernels() -> int:
    """Let numba keep UMAP's compiled kernels on disk; returns how many it now may cache.

    umap-learn compiles about 250 numba functions on first use in every process and caches
    almost none (pynndescent caches its own): ~15 s of CPU per training job and again when a
    model is loaded, more than fitting a layer on 600 documents takes. numba's cache sits
    next to the package's source (``__pycache__`` in the virtual environment, else the
    user's cache folder) and is checked against the source file's timestamp and size, so it
    is as trusted as the installed code itself; nothing goes under ``STACKYARD_HOME``.
    Call it before UMAP is first fitted or used in the process; once is enough."""
    import sys

    import umap  # noqa: F401 - loads the modules whose kernels are enabled below
    from numba.core.dispatcher import Dispatcher

    kernels = {id(f): f for name, module in list(sys.modules.items())
               if module is not None and name.startswith(("umap", "pynndescent"))
               for f in list(vars(module).values()) if isinstance(f, Dispatcher)}
    for f in kernels.values():
        f.enable_caching()
    return len(kernels)


def build(params: dict[str, Any], seed: int = 0) -> Any:
    """An unfitted BERTopic with every component explicit."""
    from sklearn.cluster import Birch
    from sklearn.feature_extraction.text import CountVectorizer
    from umap import UMAP

    cache_umap_kernels()

    bertopic = _bertopic()
    from bertopic.vectorizers import ClassTfidfTransformer

    return bertopic.BERTopic(
        embedding_model=None,   # embeddings are computed once, by embed.py, and passed in
        umap_model=UMAP(n_neighbors=int(params["n_neighbors"]),
                        n_components=int(params["n_components"]), min_dist=0.0,
                        metric="cosine", random_state=seed, n_jobs=1),
        hdbscan_model=Birch(threshold=float(params["threshold"]),
                            n_clusters=int(params["n_clusters"])),
        vectorizer_model=CountVectorizer(stop_words=stop_words(), ngram_range=(1, 2),
                                         min_df=1),   # fitted on one text per topic
        ctfidf_model=ClassTfidfTransformer(reduce_frequent_words=True),
        representation_model=None,
        top_n_words=TOP_WORDS, calculate_probabilities=False, verbose=False)


def stop_words() -> list[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return sorted(ENGLISH_STOP_WORDS | set(SALES_WORDS))


def fit_layer(texts: list[str], embeddings: np.ndarray, params: dict[str, Any],
              seed: int = 0, topic_range: tuple[int, int] | None = None
              ) -> tuple[Any, list[int]]:
    """Fit one layer; returns the model and each text's topic."""
    if len(texts) < 10:
        raise ValueError(f"a topic layer needs at least 10 documents; got {len(texts)}")
    model = build(params, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")    # BIRCH's "fewer subclusters" is checked below
        topics, _ = model.fit_transform(texts, embeddings=embeddings)
    found = len(set(topics))
    if topic_range and not topic_range[0] <= found <= topic_range[1]:
        raise ValueError(
            f"BIRCH found {found} topics, outside {topic_range[0]}-{topic_range[1]} "
            f"(threshold {params['threshold']}, n_clusters {params['n_clusters']}); "
            f"{'lower' if found < topic_range[0] else 'raise'} the threshold")
    return model, [int(t) for t in topics]


def topic_table(model: Any, topics: list[int], embeddings: np.ndarray
                ) -> dict[str, dict[str, Any]]:
    """Each topic's keywords (c-TF-IDF), size and cohesion, keyed by topic id as text.

    Cohesion is the mean cosine between the topic's document embeddings and their mean
    direction: a topic that mixes several use cases (a big generic family) is less cohesive
    than one use case, however big; the mapping worker uses it to tell the two apart."""
    sizes = Counter(topics)
    of = np.asarray(topics)
    table = {}
    for t in sorted(sizes):
        members = embeddings[of == t]
        centre = members.mean(0)
        centre = centre / (np.linalg.norm(centre) or 1.0)
        table[str(t)] = {"keywords": [w for w, _ in model.get_topic(t)][:TOP_WORDS],
                         "size": sizes[t], "cohesion": round(float((members @ centre).mean()), 4)}
    return table


def check_mapping(mapping: Any, table: dict[str, dict[str, Any]], where: str
                  ) -> dict[str, dict[str, Any]]:
    """The mapping's topics, checked against the layer's ``table``: an object
    ``{"topics": {"<id>": {"name": str, "split": bool}}}`` naming every topic, no other."""
    if not isinstance(mapping, dict) or not isinstance(mapping.get("topics"), dict):
        raise MappingError(f"{where}: a mapping is a JSON object with a \"topics\" object")
    entries = mapping["topics"]
    unknown = sorted(set(entries) - set(table), key=str)
    if unknown:
        raise MappingError(f"{where}: names unknown topic(s) {', '.join(unknown)}; this "
                           f"layer's topics are "
                           f"{', '.join(table) or 'none (the layer was not trained)'}")
    missing = sorted(set(table) - set(entries), key=int)
    if missing:
        raise MappingError(f"{where}: gives no entry for topic(s) {', '.join(missing)}")
    for key, e in entries.items():
        if (not isinstance(e, dict) or not isinstance(e.get("name"), str)
                or not e["name"].strip() or not isinstance(e.get("split"), bool)):
            raise MappingError(f"{where}: topic {key} needs \"name\" (text) and \"split\" "
                               f"(true/false); got {json.dumps(e)[:200]}")
    return entries


def read_mapping(path: Path, table: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A mapping file, refused with its name when it is not UTF-8 JSON or not valid."""
    try:
        mapping = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MappingError(f"{path.name}: not a valid JSON file ({e}); the mapping worker "
                           "must write UTF-8 JSON") from None
    return check_mapping(mapping, table, path.name)


# ---- scores: the tuning loss and the bench ---------------------------------------------
def npmi(topic_words: list[list[str]], docs: list[set[str]]) -> float:
    """Mean NPMI of each topic's word pairs, counted over documents (a pair never seen
    together scores -1). Words absent from ``docs`` are skipped."""
    n = len(docs)
    scores = []
    for words in topic_words:
        present = [w for w in words if any(w in d for d in docs)]
        for i, a in enumerate(present):
            for b in present[i + 1:]:
                na = sum(a in d for d in docs)
                nb = sum(b in d for d in docs)
                nab = sum(a in d and b in d for d in docs)
                if nab == 0:
                    scores.append(-1.0)
                elif nab == n:
                    scores.append(1.0)
                else:
                    pab = nab / n
                    scores.append(math.log(pab / (na / n * nb / n)) / -math.log(pab))
    return float(np.mean(scores)) if scores else -1.0


def balance_penalty(topics: list[int]) -> float:
    """0 when every topic has the same size, up to 1 when one topic takes everything."""
    sizes = np.array(list(Counter(topics).values()), dtype=float)
    if len(sizes) < 2:
        return 1.0
    p = sizes / sizes.sum()
    return float(1 + (p * np.log(p)).sum() / math.log(len(p)))


def diversity(topic_words: list[list[str]]) -> float:
    """Share of unique words among all topics' top words (BERTopic paper's TD)."""
    words = [w for ws in topic_words for w in ws]
    return len(set(words)) / len(words) if words else 0.0


# ---- the three-layer model ---------------------------------------------------------------
class SequentialTopicModel:
    """Layers 1-3 with the mappings between them; ``predict`` gives each text a final
    topic ``"<layer>.<topic>"`` and ``name`` its name. When a mapping splits nothing (or
    too few documents) the model stops at that layer and keeps the mapping for its topic
    names, so there may be as many mappings as layers."""

    def __init__(self, embedder: Any, layers: list[Any], mappings: list[dict[str, Any]],
                 tables: list[dict[str, Any]]) -> None:
        self.embedder, self.layers, self.mappings, self.tables = (embedder, layers, mappings,
                                                                  tables)

    def _transform(self, layer: int, texts: list[str], emb: np.ndarray) -> list[int]:
        topics, _ = self.layers[layer].transform(texts, embeddings=emb)
        return [int(t) for t in topics]

    def predict(self, texts: list[str]) -> list[str]:
        """The final topic of each (already cleaned) text."""
        empty = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
        if empty:
            raise ValueError(f"text(s) {', '.join(map(str, empty[:10]))} are empty (after "
                             "cleaning); give each text some words")
        emb = self.embedder.encode(list(texts))
        final = [f"1.{t}" for t in self._transform(0, texts, emb)]
        for layer in (1, 2):
            if layer >= len(self.layers):
                break
            parent = self.mappings[layer - 1]
            todo = [i for i, f in enumerate(final) if f.startswith(f"{layer}.")
                    and parent[f.split(".")[1]]["split"]]
            if todo:
                sub = self._transform(layer, [texts[i] for i in todo], emb[todo])
                for i, t in zip(todo, sub, strict=True):
                    final[i] = f"{layer + 1}.{t}"
        return final

    def name(self, topic: str) -> str:
        layer, t = topic.split(".")
        mapping = self.mappings[int(layer) - 1] if int(layer) <= len(self.mappings) else {}
        if t in mapping:
            return mapping[t]["name"]
        return " ".join(self.tables[int(layer) - 1][t]["keywords"][:3])

    # ---- save / load ---------------------------------------------------------------------
    def save(self, folder: Path) -> Path:
        import joblib

        folder.mkdir(parents=True, exist_ok=True)
        state = self.embedder.state()
        (folder / "embedding.json").write_text(json.dumps(state))
        if hasattr(self.embedder, "arrays"):
            for k, v in self.embedder.arrays().items():
                np.save(folder / f"embedding-{k}.npy", v, allow_pickle=False)
        for i, model in enumerate(self.layers, 1):
            (folder / f"layer{i}").mkdir(exist_ok=True)
            joblib.dump(model, folder / f"layer{i}" / "bertopic.joblib")
            (folder / f"layer{i}" / "topics.json").write_text(json.dumps(self.tables[i - 1]))
        for i, m in enumerate(self.mappings, 1):
            (folder / f"mapping{i}.json").write_text(json.dumps({"topics": m}, indent=1))
        import bertopic

        files = {p.relative_to(folder).as_posix(): _sha256(p)
                 for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}
        (folder / MANIFEST).write_text(json.dumps(
            {"format": 1, "bertopic": bertopic.__version__, "layers": len(self.layers),
             "files": files}, indent=1))
        return folder

    @classmethod
    def load(cls, folder: Path) -> SequentialTopicModel:
        import joblib

        manifest = json.loads((folder / MANIFEST).read_text())
        for rel, want in manifest["files"].items():
            path = folder / rel
            if not path.is_file() or _sha256(path) != want:
                raise ValueError(f"{path}: missing or changed since it was saved (sha256 "
                                 f"differs from the manifest); refusing to load")
        _bertopic()
        state = json.loads((folder / "embedding.json").read_text())
        if state["name"] == "tfidf-svd":
            embedder = embed.TfidfSvd(
                state["vocabulary"],
                np.load(folder / "embedding-idf.npy", allow_pickle=False),
                np.load(folder / "embedding-components.npy", allow_pickle=False))
        else:
            embedder = embed.embedder(state["name"])
        n = manifest["layers"]
        unlisted = [f"layer{i}/bertopic.joblib" for i in range(1, n + 1)
                    if f"layer{i}/bertopic.joblib" not in manifest["files"]]
        if unlisted:   # never unpickle a file the manifest does not vouch for
            raise ValueError(f"{folder}: {', '.join(unlisted)} not in the manifest; refusing "
                             "to load")
        cache_umap_kernels()
        layers = [joblib.load(folder / f"layer{i}" / "bertopic.joblib") for i in range(1, n + 1)]
        tables = [json.loads((folder / f"layer{i}" / "topics.json").read_text())
                  for i in range(1, n + 1)]
        mappings = [json.loads((folder / f"mapping{i}.json").read_text())["topics"]
                    for i in range(1, n + 1) if f"mapping{i}.json" in manifest["files"]]
        return cls(embedder, layers, mappings, tables)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
