"""Reading and cleaning the documents, as seed 000's preprocessing lists it.

``clean`` runs, in this order (the order matters: names are found by their capitals, so
they go before lower-casing, and URLs before anything splits them):

1. strip template text (``TEMPLATE``: sentences a CRM template leaves in empty fields);
2. remove URLs and e-mail addresses;
3. drop named entities that say nothing about the use case: organisations (capitalised
   words ending in a legal form: GmbH, Ltd, Inc, ...), people (after ``Contact:`` or a
   title), dates, money and other numbers. A rule-based tagger, because spaCy's English
   models are not on PyPI and would need a download;
4. expand contractions (``they're`` -> ``they are``, ``customer's`` -> ``customer``);
5. lower-case;
6. lemmatise every word with simplemma, whose English data ships in its wheel.

``read_documents`` reads a folder of ``*.jsonl`` (one opportunity per line, the seed's text
fields) and ``*.txt`` files (one document per line), refusing a file that is not UTF-8 or a
line that is not a JSON object, naming the file and line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

FIELDS = ("name", "description", "needs", "product", "product_group")
TEMPLATE = re.compile(
    r"opportunity created from template\.?|please describe the customer need here\.?|"
    r"\[enter details\]|\bn/a\b|\btbd by account team\.?", re.IGNORECASE)
URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
LEGAL = r"(?:GmbH|Ltd|Inc|LLC|Corp|AG|SA|plc|PLC|Co)\b\.?"
ORG = re.compile(r"(?:\b[A-Z][\w&'-]*\s+){1,4}" + LEGAL)
PERSON = re.compile(r"\b(?:Contact|Mr|Mrs|Ms|Dr|Prof)\.?:?\s+(?:[A-Z][a-z'-]+\s?){1,3}")
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b|\b(?:Q[1-4])\b|"
                  r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?\s+\d{4}\b")
MONEY = re.compile(r"(?:[$€£]|\b(?:USD|EUR|GBP)\s?)\s?\d[\d,.]*\s?[kKmM]?\b")
NUMBER = re.compile(r"\b\d[\d,.]*\b")
CONTRACTIONS = {"won't": "will not", "can't": "cannot", "n't": " not", "'re": " are",
                "'ve": " have", "'ll": " will", "'d": " would", "'m": " am",
                "it's": "it is", "that's": "that is", "there's": "there is",
                "he's": "he is", "she's": "she is", "let's": "let us"}
CONTRACTION = re.compile("|".join(re.escape(k) for k in sorted(CONTRACTIONS, key=len,
                                                                  reverse=True))
                         + r"|'s\b", re.IGNORECASE)
WORD = re.compile(r"[a-z][a-z0-9+#.-]*[a-z0-9+#]|[a-z]")


class DocumentError(ValueError):
    """A document file that cannot be read as the example expects (named, with where)."""


def expand_contractions(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        return CONTRACTIONS.get(m.group(0).lower(), "")   # possessive 's: dropped
    return CONTRACTION.sub(one, text.replace("\u2019", "'"))   # typographic apostrophes


def drop_entities(text: str) -> str:
    for pattern in (PERSON, ORG, DATE, MONEY, NUMBER):
        text = pattern.sub(" ", text)
    return text


def lemmatise(words: list[str]) -> list[str]:
    """Each word's lemma; words under four letters are kept (simplemma turns "ml" into
    "millileter")."""
    try:
        import simplemma
    except ImportError:
        raise DocumentError("lemmatising needs simplemma: install the topics extra "
                            "(pip install -e '.[topics]')") from None
    return [simplemma.lemmatize(w, lang="en") if len(w) > 3 else w for w in words]


def clean(text: str) -> str:
    """One document's text, cleaned as the module docstring lists; "" if nothing is left."""
    text = TEMPLATE.sub(" ", text)
    text = EMAIL.sub(" ", URL.sub(" ", text))
    text = drop_entities(text)
    text = expand_contractions(text).lower()
    return " ".join(lemmatise(WORD.findall(text)))


def combine(row: dict[str, Any]) -> str:
    """The seed's text fields of an opportunity as one text (missing fields are empty)."""
    return ". ".join(str(row.get(f) or "").strip() for f in FIELDS if row.get(f))


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise DocumentError(f"{path.name}: not UTF-8 (byte {e.start}, line {line}: "
                            f"{data[e.start:e.start + 4]!r}); re-save it as UTF-8, e.g. "
                            f"iconv -f latin1 -t utf-8") from None


def read_documents(folder: Path) -> list[dict[str, Any]]:
    """Every document under ``folder``: ``{"id", "text", "labels"...}`` in file order, with
    ``id`` as ``FILE:LINE``. Blank lines are skipped; other problems are refused."""
    files = sorted(p for p in folder.rglob("*") if p.suffix in (".jsonl", ".txt"))
    if not files:
        raise DocumentError(f"no *.jsonl or *.txt files under {folder}")
    docs: list[dict[str, Any]] = []
    for path in files:
        for n, line in enumerate(_decode(path).splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path.relative_to(folder)}:{n}"
            if path.suffix == ".txt":
                docs.append({"id": where, "text": line})
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DocumentError(f"{where}: not a JSON object ({e.msg}); write one "
                                    "opportunity per line") from None
            if not isinstance(row, dict):
                raise DocumentError(f"{where}: a JSON line must be an object with the "
                                    f"fields {', '.join(FIELDS)}")
            docs.append({"id": where, "text": combine(row),
                         **{k: v for k, v in row.items() if k not in FIELDS}})
    return docs
