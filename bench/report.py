"""The tables a run prints, in the terminal (rich) and as Markdown for docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.memory import mib


@dataclass
class Section:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""


def machine() -> dict[str, str]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem = next(int(line.split()[1]) * 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))
    except (OSError, StopIteration):
        mem = 0
    return {
        "cores": str(os.cpu_count()),
        "cpu": model or platform.processor() or "unknown",
        "memory": f"{mem / 2**30:.1f} GiB",
        "python": sys.version.split()[0],
        "os": f"{platform.system()} {platform.release()}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def database_name(url: str) -> str:
    """What the service's database is, for the machine table: SQLite, or PostgreSQL and its server version."""
    if not url.startswith("postgresql"):
        return "SQLite (a file in the data dir)"
    from freshness.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return f"PostgreSQL {conn.exec_driver_sql('SHOW server_version').scalar()}"
    finally:
        engine.dispose()


def ms(value: float) -> str:
    return f"{value:.2f}"


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}×" if base else "-"


def build(results: dict) -> list[Section]:
    size = results["size"]
    sections = [Section("Machine and corpus", ["", ""], [[k, v] for k, v in results["machine"].items()] + [
        ["corpus", f"{size['name']}: {size['sources']} sources × {size['docs_per_source']} documents × "
                   f"{size['chunks_per_doc']} chunks = {size['chunks']:,} chunks, ~{size['words_per_chunk']} words "
                   f"each, dense dim {size['dense_dim']}, seed {results['seed']}"],
        ["store points", f"{results['ingestion']['store_points']:,} (active and superseded snapshots)"],
    ])]

    retrieval = results["retrieval"]
    floor = retrieval["floor"]
    rows = []
    for key in ("floor", "service", "health_1", "floor_http_1", "http_1", "health_n", "floor_http_n", "http_n"):
        if key not in retrieval:
            continue
        s = retrieval[key]
        audited = s.get("audit_records")
        check = "-" if audited is None else ("yes" if audited == s.get("answers") else f"NO ({audited})")
        rows.append([s["name"], f"{s['count']:,}", ms(s["p50_ms"]), ms(s["p99_ms"]), f"{s['per_s']:,.0f}",
                     ratio(s["p50_ms"], floor["p50_ms"]), f"+{s['p50_ms'] - floor['p50_ms']:.2f}",
                     str(s["errors"]), check])
    hybrid_floor = retrieval["hybrid_floor"]
    for key in ("hybrid_floor", "hybrid_service"):
        s = retrieval[key]
        audited = s.get("audit_records")
        check = "-" if audited is None else ("yes" if audited == s.get("answers") else f"NO ({audited})")
        rows.append([s["name"], f"{s['count']:,}", ms(s["p50_ms"]), ms(s["p99_ms"]), f"{s['per_s']:,.0f}",
                     ratio(s["p50_ms"], hybrid_floor["p50_ms"]), f"+{s['p50_ms'] - hybrid_floor['p50_ms']:.2f}",
                     str(s["errors"]), check])
    sections.append(Section(
        "Retrieval (top_k 5, scan 50; latencies in ms)",
        ["series", "requests", "p50", "p99", "per s", "p50 / floor", "p50 − floor", "errors", "audit = answers"],
        rows,
        f"BM25 rows compare with (a); hybrid rows (BM25 + client vector, RRF) with the hybrid floor, measured "
        f"after optimize() ({retrieval['optimize_seconds']:.1f} s). Server CPU per HTTP request: "
        f"{retrieval['server_cpu_ms_1']:.2f} ms (1 client), {retrieval['server_cpu_ms_n']:.2f} ms (16 clients).",
    ))

    ingestion = results["ingestion"]
    first = ingestion["first"]["seconds"]
    rows = []
    labels = {"first": "first publish (empty store)", "unchanged": "re-publish, unchanged",
              "changed": "re-publish, 1% of documents changed"}
    for key, label in labels.items():
        p = ingestion[key]
        rows.append([label, f"{p['chunks']:,}", f"{p['seconds']:.2f}", f"{p['chunks_per_s']:,.0f}",
                     f"{p['seconds'] / first * 100:.1f}%", f"{p['new_snapshots']}", f"{p['chunks_embedded']:,}",
                     f"{p['chunks_reused']:,}"])
    big = ingestion["under_load"]["publish"]
    rows.append(["one large source while retrieving", f"{big['chunks']:,}", f"{big['seconds']:.2f}",
                 f"{big['chunks_per_s']:,.0f}", "-", "1", f"{big['chunks']:,}", "0"])
    changed = ingestion["changed"]
    sections.append(Section(
        "Ingestion (publish of every source, in-process)",
        ["pass", "chunks", "seconds", "chunks/s", "of first", "new snapshots", "embedded", "reused"],
        rows,
        f"1% = {changed['documents_changed']} documents, spread over {changed['sources_touched']} of "
        f"{size['sources']} sources; each touched source gets a new snapshot.",
    ))
    if "rounds_seconds" in changed:
        rounds = ", ".join(f"{sec / first * 100:.0f}%" for sec in changed["rounds_seconds"])
        sections[-1].note += (f" Ten such rounds, each changing another 1% (of first): {rounds}. Store on disk "
                              f"after the first publish {mib(ingestion['first']['store_bytes'])}, after the ten "
                              f"rounds {mib(changed['store_bytes_after_rounds'])} (not counting the large source "
                              "below, published between the first round and the others, which run after the "
                              "retrieval series).")
    load = ingestion["under_load"]["retrieval"]
    sections.append(Section(
        "Retrieval while a large publish runs (in-process, 100 requests/s)",
        ["requests", "p50", "p99", "max", "errors", "write batch"],
        [[f"{load['count']:,}", ms(load["p50_ms"]), ms(load["p99_ms"]), ms(load["max_ms"]), str(load["errors"]),
          str(big["write_batch"])]],
    ))
    if results.get("peer"):
        sections.append(_peer_section(results["peer"]))

    if "audit" in results:
        sections.append(_audit_section(results["audit"]))

    memory = results["memory"]
    sections.append(Section(
        "Memory (peak RSS)",
        ["process", "peak RSS"],
        [["freshness serve holding the corpus, after the HTTP runs", mib(memory["serve_peak"])]]
        + ([["  RSS at the end: anonymous / file-backed (store segments, reclaimable)",
             f"{mib(memory['serve_rss_anon'])} / {mib(memory['serve_rss_file'])}"]]
           if "serve_rss_anon" in memory else [])
        + [
         ["ingestion process (all publishes above)", mib(memory["ingest_peak"])],
         ["  of which after the first publish", mib(ingestion["first"]["peak_rss"])]],
    ))
    return sections


def _audit_section(audit: dict) -> Section:
    hot = [["  hot snapshots (the 10 most used)", ms(audit["reverse_hot"]["p50_ms"]),
            ms(audit["reverse_hot"]["p99_ms"]), "-"],
           ["  cold snapshots", ms(audit["reverse_cold"]["p50_ms"]), ms(audit["reverse_cold"]["p99_ms"]), "-"]]
    return Section(
        f"Audit with {audit['records']:,} records (SQLite, {mib(audit['db_bytes'])})",
        ["measure", "p50 ms", "p99 ms", "rate"],
        [["lookup by request ID", ms(audit["lookup"]["p50_ms"]), ms(audit["lookup"]["p99_ms"]), "-"],
         ["reverse: newest 100 requests of a snapshot", ms(audit["reverse"]["p50_ms"]),
          ms(audit["reverse"]["p99_ms"]), "-"],
         *(hot if "reverse_hot" in audit else []),
         ["verify the whole chain", "-", "-",
          f"{audit['verify']['per_s']:,.0f} records/s ({audit['verify']['seconds']:.1f} s)"]],
        f"Records bulk-inserted with freshness.audit.chain in {audit['fill_seconds']:.0f} s, then verified "
        "with the service's own verify_chain.",
    )


def _peer_section(peer: dict) -> Section:
    rows = []
    for key, label in (("first", "first publish"), ("unchanged", "re-publish, unchanged"),
                       ("changed", "re-publish, 1% changed, every source")):
        ours, theirs = peer["freshness"][key], peer["langchain"][key]
        rows.append([label, f"{ours['seconds']:.3f}", f"{theirs['seconds']:.3f}", f"{peer['speedup'][key]:.1f}×",
                     f"{ours['written']:,}", f"{theirs['written']:,} / {theirs['deleted']:,}"])
    return Section(
        f"Re-publishing beside LangChain's index() ({peer['documents']:,} documents, {peer['chunks']:,} chunks)",
        ["pass", "freshness s", "LangChain s", "freshness faster", "freshness embedded", "LangChain written / deleted"],
        rows,
        "LangChain: index() with SQLRecordManager (SQLite) and QdrantVectorStore (qdrant-client local mode, sparse), "
        f"scoped_full cleanup per source; both embed with qdrant_edge.Bm25, no dense vectors. "
        f"{peer['changed_documents']} documents changed, one per source.",
    )


def targets(results: dict) -> Section:
    """The targets of the task, each a ratio within this run (those set for the large corpus say so)."""
    r = results["retrieval"]
    ing = results["ingestion"]
    first = ing["first"]["seconds"]
    load = ing["under_load"]["retrieval"]
    rows: list[tuple[str, str, bool | None]] = []
    one, many = r["http_1"], r["http_n"]
    if "floor_http_1" in r:
        floor_one, floor_many = r["floor_http_1"], r["floor_http_n"]
        rows.append(("1. HTTP 1 client: p50 ≤ floor p50 + 1 ms",
                     f"{one['p50_ms']:.2f} vs {floor_one['p50_ms']:.2f} + 1",
                     one["p50_ms"] <= floor_one["p50_ms"] + 1))
    rows.append(("1. HTTP 1 client: p50 ≤ bare engine p50 + 1.5 ms (large)",
                 f"{one['p50_ms']:.2f} vs {r['floor']['p50_ms']:.2f} + 1.5",
                 one["p50_ms"] <= r["floor"]["p50_ms"] + 1.5))
    if "floor_http_n" in r:
        rows.append(("2. HTTP 16 clients: ≥ 75% of the floor's rate",
                     f"{many['per_s']:,.0f}/s = {many['per_s'] / floor_many['per_s'] * 100:.0f}% of "
                     f"{floor_many['per_s']:,.0f}/s", many["per_s"] >= 0.75 * floor_many["per_s"]))
    rows.append(("2. HTTP 16 clients: ≥ 60% of the bare engine's rate (large)",
                 f"{many['per_s'] / r['floor']['per_s'] * 100:.0f}% of {r['floor']['per_s']:,.0f}/s",
                 many["per_s"] >= 0.6 * r["floor"]["per_s"]))
    audited = all(r[k].get("audit_records") == r[k].get("answers") for k in ("service", "http_1", "http_n"))
    errors = sum(r[k]["errors"] for k in ("service", "http_1", "http_n"))
    rows.append(("2. zero errors, audit records = answers", f"{errors} errors, audited: {'yes' if audited else 'NO'}",
                 errors == 0 and audited))
    rows.append(("3. unchanged re-publish ≤ 5% of first", f"{ing['unchanged']['seconds'] / first * 100:.1f}%",
                 ing["unchanged"]["seconds"] / first <= 0.05))
    rows.append(("3. 1% changed (every source) re-publish ≤ 10% of first",
                 f"{ing['changed']['seconds'] / first * 100:.1f}%", ing["changed"]["seconds"] / first <= 0.10))
    peer = results.get("peer")
    for key, label in (("first", "first publish"), ("unchanged", "unchanged"), ("changed", "1% changed")):
        if peer:
            rows.append((f"3. {label} ≥ 3× faster than LangChain's index()", f"{peer['speedup'][key]:.1f}×",
                         peer["speedup"][key] >= 3))
        else:
            rows.append((f"3. {label} ≥ 3× faster than LangChain's index()", "not run (bench extra)", None))
    quiet = r["service"]["p99_ms"]
    rows.append(("4. retrieval p99 during a large publish ≤ 1.5× without, < 20 ms",
                 f"{load['p99_ms']:.2f} vs {quiet:.2f} without",
                 load["p99_ms"] <= 1.5 * quiet and load["p99_ms"] < 20))
    rows.append(("5. serve peak RSS < 1 GiB", mib(results["memory"]["serve_peak"]),
                 results["memory"]["serve_peak"] < 2**30))
    changed = ing["changed"]
    if "store_bytes_after_rounds" in changed:
        grown = changed["store_bytes_after_rounds"] / ing["first"]["store_bytes"]
        rows.append(("5. store after ten 1%-changed re-publishes ≤ 1.2× after the first", f"{grown:.2f}×",
                     grown <= 1.2))
    met = {True: "yes", False: "no", None: "-"}
    return Section(f"Targets (this run: {results['size']['name']}; those marked large are set for the large corpus)",
                   ["target", "measured", "met"], [[a, b, met[c]] for a, b, c in rows])


def print_tables(sections: list[Section], console: Console | None = None) -> None:
    console = console or Console()
    for section in sections:
        table = Table(title=section.title, title_justify="left", show_header=section.columns != ["", ""])
        for i, column in enumerate(section.columns):
            table.add_column(column, justify="left" if i == 0 else "right")
        for row in section.rows:
            table.add_row(*row)
        console.print(table)
        if section.note:
            console.print(section.note, style="dim", highlight=False)
        console.print()


def markdown(sections: list[Section]) -> str:
    out = []
    for section in sections:
        out.append(f"### {section.title}\n")
        header = section.columns if section.columns != ["", ""] else ["", ""]
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
        for row in section.rows:
            out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
        if section.note:
            out.append(f"\n{section.note}")
        out.append("")
    return "\n".join(out)
