"""The example's data, with no download: synthetic sales opportunities with known use cases
(like seed 000's Salesforce data), and a real news corpus that ships inside gensim.

**Opportunities.** Each row has the seed's text fields (``name``, ``description``,
``needs``, ``product``, ``product_group``) and three labels: ``family`` (what layer 1 should
find), ``use_case`` (what the final topic should be) and ``detail``. Eighteen use cases are
small and specific; three families (migration, analytics, machine learning) are big and
generic: their use cases share most of their words, so layer 1 tends to keep each family as
one large topic, and layers 2 and 3 must split it. The text carries the noise the seed's
preprocessing removes: template sentences, contractions, URLs, e-mail addresses, company
and person names, dates and amounts. Deterministic for a seed.

**Lee.** ``lee_documents()``: the 300 Australian news articles of the Lee Background corpus
that gensim ships as test data (no labels), for the bench.

Run ``python opportunities.py OUT.jsonl [N]`` to write N opportunities as JSON lines.
"""

from __future__ import annotations

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
# A big family's use case is this many times as frequent as a specific use case.
BIG_WEIGHT = 1.0

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


def _weights() -> np.ndarray:
    w = np.array([BIG_WEIGHT if f in GENERIC else 1.0 for f, _ in _labels()])
    return w / w.sum()


def opportunity(rng: np.random.Generator, family: str, use_case: str) -> dict[str, str]:
    """One opportunity of ``use_case``, with its fields and labels."""
    phrases, product, details = USE_CASES[family][use_case]
    pick = lambda xs, k=1: [str(x) for x in rng.choice(xs, size=k, replace=False)]  # noqa: E731
    company, person = pick(COMPANIES)[0], pick(PEOPLE)[0]
    detail = pick(details)[0] if details else ""
    generic = GENERIC.get(family, [])
    # big families talk mostly in their family's words, with one of their use case's
    words = pick(generic, 2) + pick(phrases) if generic else pick(phrases, 3)
    words += [detail] if detail else []
    rng.shuffle(words)
    email = person.lower().replace(" ", ".") + "@" + company.split()[0].lower() + ".example.com"
    description = (f"{pick(CONTRACTED)[0]} {words[0]} and {words[1]}. "
                   f"{company} plans {words[2]}"
                   + (f" with {words[3]}" if len(words) > 3 else "")
                   + f" before {rng.integers(2024, 2027)}-{rng.integers(1, 13):02d}-"
                     f"{rng.integers(1, 29):02d}. ")
    if rng.random() < 0.5:
        description += f"See https://{company.split()[0].lower()}.example.com/rfp/" \
                       f"{rng.integers(100, 999)} for the RFP. "
    needs = (f"Contact: {person} ({email}). Budget ${rng.integers(5, 90) * 10_000:,}. "
             f"Needs {pick(phrases)[0]}.")
    if rng.random() < 0.4:
        needs = pick(TEMPLATES)[0] + " " + needs
    return {"name": f"{company} - {family.title()} Q{rng.integers(1, 5)}",
            "description": description.strip(),
            "needs": needs, "product": product, "product_group": family.title(),
            "family": family, "use_case": use_case, "detail": detail or use_case}


def opportunities(n: int = 600, seed: int = 0) -> list[dict[str, str]]:
    """``n`` opportunities, every use case present, in a random order."""
    rng = np.random.default_rng(seed)
    labels = _labels()
    counts = np.maximum(3, np.floor(_weights() * n)).astype(int)
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


if __name__ == "__main__":
    out = Path(sys.argv[1])
    write_jsonl(opportunities(int(sys.argv[2]) if len(sys.argv) > 2 else 600), out)
    print(out)
