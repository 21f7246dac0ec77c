"""Search benchmark: the catalogue's full-text search against a LIKE scan, over 100,000 generated records.

    .venv/bin/python bench/search.py                      # SQLite, in a temporary file
    .venv/bin/python bench/search.py --database postgresql://postgres@127.0.0.1:5432/postgres

On PostgreSQL a database of its own is created and dropped. Each query runs ``--runs`` times through
``esap_core.catalogue.search`` (one page of 20 and the total, as the search page asks) and through a
LIKE scan that asks the same question the naive way (every word in any text column, case-insensitive,
ordered by name); p50 and p95 in milliseconds are printed and written to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import and_, create_engine, func, insert, or_, select, text

from esap_core import catalogue, schema
from esap_core.app import create_app
from esap_core.db import make_engine
from esap_core.models import Software

RESULTS = Path(__file__).parent / "results"
SCIENCE_WORDS = (
    "gamma ray astronomy pulsar timing radio interferometry imaging spectroscopy cosmic shower "
    "simulation neutrino detector calibration photometry astrometry catalogue galaxy cluster lensing "
    "redshift survey transient alert supernova black hole binary merger gravitational wave particle "
    "physics collider event reconstruction analysis pipeline workflow notebook tutorial visualisation "
    "python julia fortran telescope array cherenkov lofar apertif gaia euclid ska cta km3net lhc dark "
    "matter dl3 fits votable hdf5 root "
)
SCIENCE = SCIENCE_WORDS.split()
QUERIES = [
    ("one common word", {"text": "analysis"}),
    ("two words", {"text": "gamma ray"}),
    ("prefix", {"text": "astro"}),
    ("three words", {"text": "pulsar timing tutorial"}),
    ("uncommon word", {"text": "zyxwvut"}),
    ("word + UI type", {"text": "notebook python", "ui_type": "notebook"}),
    ("filters only", {"ui_type": "desktop", "runtime": "java"}),
]


def words(rng: random.Random, vocabulary: list[str], count: int) -> str:
    return " ".join(rng.choice(vocabulary) for _ in range(count))


def generate(engine, total: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    synthetic = ["".join(rng.choice("abcdefghijklmnoprstuvw") for _ in range(rng.randint(4, 9))) for _ in range(5000)]
    vocabulary = SCIENCE * 20 + synthetic
    vocabulary.append("zyxwvut")  # one word among 6,000: in about one record in 80
    ui_types = ["notebook"] * 6 + ["cli"] * 2 + ["desktop", "web"]
    runtimes = ["Python 3.11", "Python 3.9", "Java 11", "C++", "Julia 1.9", "Fortran"]
    with engine.begin() as connection:
        for start in range(0, total, 5000):
            rows = [
                {
                    "source": rng.choice(["ossr", "git-repositories", "other"]),
                    "external_id": f"r{number}",
                    "name": words(rng, vocabulary, rng.randint(1, 4)).title(),
                    "description": words(rng, vocabulary, rng.randint(20, 120)),
                    "repository_url": f"https://github.com/org{number % 500}/repo{number}",
                    "ref": "main",
                    "path": "",
                    "version": f"v{number % 7}.{number % 13}",
                    "doi": f"10.5281/zenodo.{number}",
                    "authors": [words(rng, synthetic, 2).title() for _ in range(rng.randint(1, 4))],
                    "keywords": [rng.choice(vocabulary) for _ in range(rng.randint(2, 8))],
                    "runtime_platform": rng.choice(runtimes),
                    "ui_type": rng.choice(ui_types),
                    "licence": "MIT",
                    "harvested": datetime.now(UTC),
                    "fingerprint": "",
                }
                for number in range(start, min(start + 5000, total))
            ]
            connection.execute(insert(Software), rows)
        connection.execute(text("ANALYZE software"))  # as a harvest leaves it (and PostgreSQL's autovacuum)


def like_scan(query: catalogue.Query):
    """The naive search: each word somewhere in a text column (any case), filters as LIKE too, by name."""
    columns = [Software.name, Software.description, func.cast(Software.keywords, Software.description.type)]
    clauses = [or_(*[func.lower(c).contains(word) for c in columns]) for word in catalogue.terms(query.text)]
    if query.ui_type:
        clauses.append(Software.ui_type == query.ui_type)
    if query.runtime:
        clauses.append(func.lower(Software.runtime_platform).contains(query.runtime))
    base = select(Software).where(and_(*clauses)) if clauses else select(Software)
    return base


def timed(function, runs: int) -> dict[str, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 2), "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2)}


def run(url: str, total: int, runs: int) -> dict:
    engine = make_engine(url)
    schema.upgrade(engine)
    started = time.perf_counter()
    generate(engine, total)
    loaded = time.perf_counter() - started
    engine.dispose()
    app = create_app({"database_url": url, "load_plugins": [], "instance_path": tempfile.mkdtemp()})
    rows = []
    with app.app_context():
        db = app.extensions["esap.db"].session
        for label, values in QUERIES:
            query = catalogue.Query(**values)
            found = catalogue.search(query, None)
            fts = timed(lambda query=query: catalogue.search(query, None), runs)
            base = like_scan(query)

            def scan(base=base):
                db.scalar(select(func.count()).select_from(base.subquery()))
                list(db.scalars(base.order_by(func.lower(Software.name), Software.id).limit(20)))

            like = timed(scan, runs)
            like_total = db.scalar(select(func.count()).select_from(base.subquery()))
            rows.append(
                {
                    "query": label,
                    **values,
                    "matches": found.total,
                    "like_matches": like_total,
                    "search": fts,
                    "like_scan": like,
                }
            )
    app.extensions["esap.db"].engine.dispose()
    return {
        "database": engine.dialect.name,
        "records": total,
        "load_seconds": round(loaded, 1),
        "runs": runs,
        "machine": platform.platform(),
        "python": platform.python_version(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "queries": rows,
    }


def print_table(result: dict) -> None:
    print(
        f"\n{result['database']}: {result['records']:,} records (loaded in {result['load_seconds']} s), "
        f"{result['runs']} runs per query; milliseconds"
    )
    print(f"{'query':<18} {'matches':>8} {'search p50':>11} {'p95':>8} {'LIKE p50':>10} {'p95':>8} {'speed-up':>9}")
    for row in result["queries"]:
        speedup = row["like_scan"]["p50_ms"] / max(row["search"]["p50_ms"], 0.01)
        print(
            f"{row['query']:<18} {row['matches']:>8} {row['search']['p50_ms']:>11} {row['search']['p95_ms']:>8} "
            f"{row['like_scan']['p50_ms']:>10} {row['like_scan']['p95_ms']:>8} {speedup:>8.1f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="", help="a PostgreSQL server URL; SQLite when omitted")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if not args.database:
        with tempfile.TemporaryDirectory() as folder:
            result = run(f"sqlite:///{folder}/bench.sqlite3", args.records, args.runs)
    else:
        name = f"esap_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(
            args.database.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            result = run(args.database.rsplit("/", 1)[0] + f"/{name}", args.records, args.runs)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            admin.dispose()
    print_table(result)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"search-{result['database']}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
