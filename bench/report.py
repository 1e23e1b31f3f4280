"""Write bench/README.md's tables from the result files in bench/results/.

Every figure table in the README sits between two markers,
``<!-- report:NAME -->`` and ``<!-- /report:NAME -->``, and is written here
from the JSON files the benchmark scripts wrote; nothing between the markers
is typed by hand. Run it after a benchmark:

    python bench/report.py            # rewrite the tables in bench/README.md
    python bench/report.py --check    # exit 1 if the README differs from the files

``tests/core/test_bench_results.py`` runs ``--check``, so the README cannot
drift from the committed result files.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results"
README = BENCH_DIR / "README.md"
MARKER = re.compile(
    r"(<!-- report:(?P<name>[a-z_]+) -->\n)(?P<body>.*?)(<!-- /report:(?P=name) -->)", re.DOTALL)


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


# -- Formatting --------------------------------------------------------------------------


def num(value, digits: int = 1) -> str:
    """A figure as the README writes it: thousands separated, ``digits`` decimals."""
    if value is None:
        return "n/a"
    if isinstance(value, int) or digits == 0:
        return f"{round(value):,}"
    return f"{value:,.{digits}f}"


def ms(value) -> str:
    return f"{num(value, 2 if value is not None and value < 10 else 1)} ms"


def met(flag, target: str) -> str:
    """The verdict the result file recorded (None: within the noise)."""
    if flag is None:
        return f"within the noise of {target}: not called"
    return f"met ({target})" if flag else f"**missed** ({target})"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def provenance(*docs: dict | None) -> str:
    """Where the figures come from: file, date, machine, load, commit, command."""
    lines = []
    for doc in docs:
        if doc is None:
            continue
        machine = doc["machine"]
        source = doc.get("source") or {}
        start = machine.get("load_average_at_start_1_5_15")
        end = machine.get("load_average_1_5_15")
        load = (f"load average (1, 5, 15 min) {fmt_load(start)} at the start, "
                f"{fmt_load(end)} at the end" if start else
                f"load average {fmt_load(end)} at the end" if end else "load average not recorded")
        commit = source.get("commit")
        changed = source.get("script_changed")
        origin = (f"commit {commit[:10]}" + (" with the script changed" if changed else "")
                  if commit else "commit not recorded")
        database = doc.get("database", {})
        server = (f", {database['dialect']} {database.get('server_version', '')}".rstrip()
                  if database else "")
        lines.append(f"- `{result_file(doc)}`: {machine['date'][:10]}, {machine['cores']} x "
                     f"{machine['cpu']}, Python {machine['python']}{server}; {load}; "
                     f"{origin}; `{doc['command']}`")
    return "\n".join(lines) + "\n"


def fmt_load(load) -> str:
    return "/".join(f"{x:.2f}" for x in load) if load else "n/a"


def result_file(doc: dict) -> str:
    dialect = doc.get("database", {}).get("dialect")
    suffix = "_postgresql" if dialect == "postgresql" else ""
    return f"results/{doc['benchmark']}{suffix}.json"


def columns(*docs) -> list[str]:
    return ["SQLite" if d and d["database"]["dialect"] == "sqlite" else
            "PostgreSQL" if d else "not measured" for d in docs]


def both(docs, figure) -> list[str]:
    return [figure(d) if d else "not measured" for d in docs]


# -- The tables --------------------------------------------------------------------------


def audit() -> str:
    docs = [load("audit_chain"), load("audit_chain_postgresql")]
    n = next((d["verify"]["entries"] for d in docs if d), 0)

    def appends(mode: str, d) -> str:
        a = d["appends"][mode]
        return f"**{num(a['record_per_s'], 0)} /s**"

    rows = [
        [f"`verify_chain()`, {num(n, 0)} entries"] + both(docs, lambda d: (
            f"**{num(d['verify']['seconds'], 2)} s** — "
            + met(d["meets_targets"]["verify"], "<= 10 s per 1,000,000")
            + ("" if d["verify"]["ok"] else "; the chain did NOT verify"))),
        ["baseline: reading the same rows"] + both(docs, lambda d: (
            f"{num(d['verify']['read_only_seconds'], 2)} s (verify = "
            f"{num(d['verify']['ratio_to_baseline'], 2)}x)")),
        ["`record()`, one per transaction"] + both(docs, lambda d: (
            appends("one_per_transaction", d) + " — "
            + met(d["appends"]["one_per_transaction"]["record_per_s"]
                  >= d["targets"]["appends_per_s"], ">= 1,000 /s"))),
        ["baseline: plain inserts, one per transaction"] + both(docs, lambda d: (
            f"{num(d['appends']['one_per_transaction']['plain_insert_per_s'], 0)} /s (record = "
            f"{num(d['appends']['one_per_transaction']['ratio_to_baseline'], 2)}x)")),
        [f"`record()`, {docs[0]['parameters']['batch_size'] if docs[0] else ''} per "
         "transaction"] + both(docs, lambda d: (
             appends("batched", d) + " — "
             + met(d["appends"]["batched"]["record_per_s"] >= d["targets"]["appends_per_s"],
                   ">= 1,000 /s"))),
        ["baseline: plain inserts, batched the same"] + both(docs, lambda d: (
            f"{num(d['appends']['batched']['plain_insert_per_s'], 0)} /s (record = "
            f"{num(d['appends']['batched']['ratio_to_baseline'], 2)}x)")),
        ["bulk fill (not a target)"] + both(docs, lambda d: f"{num(d['fill']['seconds'], 0)} s"),
    ]
    return table(["audit_chain"] + columns(*docs), rows) + "\n" + provenance(*docs)


def login() -> str:
    d = load("login_argon2")
    if d is None:
        return "Not measured.\n"
    v, trip = d["verify"], d["login_round_trip"]
    p = d["parameters"]

    def hasher(h) -> str:
        memory = (f"{num(h['memory_kib'] / 1024, 0)} MiB" if h["memory_kib"] >= 1024
                  else f"{h['memory_kib']} KiB")
        return f"argon2id m={memory}, t={h['time_cost']}, p={h['parallelism']}"

    def noise(stats) -> str:
        low, high = stats["p95_ci95_ms"]
        rounds = stats["p95_per_round_ms"]
        return (f"{ms(low)}-{ms(high)}; rounds {ms(min(rounds))}-{ms(max(rounds))}")

    rows = [
        [f"verify, the platform ({hasher(v['platform']['hasher'])})", ms(v["platform"]["p50_ms"]),
         f"**{ms(v['platform']['p95_ms'])}** — "
         + met(d["meets_targets"]["verify"], f"<= {num(d['targets']['verify_p95_ms'], 0)} ms"),
         noise(v["platform"])],
        [f"verify, baseline: the same call, {hasher(v['baseline']['hasher'])}",
         ms(v["baseline"]["p50_ms"]), ms(v["baseline"]["p95_ms"]), noise(v["baseline"])],
        ["argon2's part of a verification (p50 difference)", ms(v["argon2_p50_ms"]), "", ""],
        ["`POST /login` round trip, the platform", ms(trip["platform"]["p50_ms"]),
         ms(trip["platform"]["p95_ms"]), noise(trip["platform"])],
        ["`POST /login` round trip, baseline: the cheap hasher", ms(trip["baseline"]["p50_ms"]),
         ms(trip["baseline"]["p95_ms"]), noise(trip["baseline"])],
        ["argon2's part of a login (p50 difference)", ms(trip["argon2_share_p50_ms"]), "", ""],
    ]
    for c in d["context"]:
        label = ("context: argon2-cffi's default" if c["library_default"]
                 else "context: OWASP equivalent")
        rows.append([f"{label}, {hasher(c['hasher'])}", ms(c["p50_ms"]), ms(c["p95_ms"]), ""])
    header = [f"login_argon2 ({p['rounds']} rounds x {p['verifications']} verifications, "
              f"{p['rounds']} x {p['logins']} logins; context {p['context_verifications']} "
              "each)", "p50", "p95", "p95's 95 % interval; rounds' p95"]
    return table(header, rows) + "\n" + provenance(d)


def matching() -> str:
    d = load("volunteer_matching")
    if d is None:
        return "Not measured.\n"
    r, p = d["rank"], d["parameters"]
    rank_rows = [
        ["index (`matching.rank_with_overflow`)", ms(r["indexed"]["p50_ms"]),
         f"**{ms(r['indexed']['p95_ms'])}** — "
         + met(r["indexed"]["p95_ms"] <= d["targets"]["rank_p95_ms"], "<= 10 ms"), ""],
        ["fair baseline: the same district arrays and checks, no index",
         ms(r["fair_baseline"]["p50_ms"]), ms(r["fair_baseline"]["p95_ms"]),
         f"**{num(r['speedup_vs_fair_p50'], 2)}x / {num(r['speedup_vs_fair_p95'], 2)}x**"],
        ["naive scan: every volunteer, every check, exact distances",
         ms(r["naive_scan"]["p50_ms"]), ms(r["naive_scan"]["p95_ms"]),
         f"{num(r['speedup_vs_naive_p50'], 2)}x / {num(r['speedup_vs_naive_p95'], 2)}x — "
         + met(r["speedup_vs_naive_p95"] >= d["targets"]["rank_speedup"], ">= 4x at p95")],
    ]
    differing = r["results_differing"]
    agreement = (f"{p['queries']} tasks ranked by each method; "
                 f"{r['queries_with_nobody_eligible']} with nobody eligible, "
                 f"{r['queries_answered_by_overflow']} answered from neighbouring districts; "
                 f"rankings differing from the index's: fair baseline "
                 f"{differing['fair_baseline']}, naive scan {differing['naive_scan']} "
                 f"(every candidate, score and explanation compared).\n")
    size_rows = [[num(e["volunteers"], 0), ms(e["indexed"]["p50_ms"]), ms(e["indexed"]["p95_ms"]),
                  ms(e["fair_baseline"]["p50_ms"]), ms(e["fair_baseline"]["p95_ms"]),
                  f"{num(e['speedup_p50'], 2)}x / {num(e['speedup_p95'], 2)}x",
                  "yes" if e["index_wins"] else "**no**"] for e in d["by_size"]]
    wins_from = d["index_wins_from_volunteers"]
    wins = (f"The index beats the fair baseline (p50 and p95) from {num(wins_from, 0)} "
            "volunteers up." if wins_from else
            "The index does not beat the fair baseline at the largest size measured.")
    b, s = d["batch"], d["scarce_pool"]
    other_rows = [
        [f"batch: {num(b['tasks'], 0)} tasks among {num(p['volunteers'], 0)}",
         f"**{num(b['seconds'], 2)} s** — " + met(d["meets_targets"]["batch"], "<= 2 s"),
         f"{num(b['assigned'], 0)} assigned, {num(b['overflow'], 0)} from a neighbour; at most "
         f"{b['most_tasks_for_one_volunteer']} for one volunteer"],
        [f"scarce pool {num(s['tasks'], 0)} x {num(s['volunteers'], 0)}: optimal (sparse)",
         f"**{ms(s['optimal']['ms'])}** — " + met(s["optimal"]["ms"] <= 200, "<= 200 ms"),
         f"{num(s['optimal']['total_km'])} km for {num(s['optimal']['assigned'], 0)} tasks"],
        ["baseline: greedy nearest-first", ms(s["greedy_nearest_first"]["ms"]),
         f"{num(s['greedy_nearest_first']['total_km'])} km for "
         f"{num(s['greedy_nearest_first']['assigned'], 0)} tasks; optimal travels "
         f"**{s['travel_saving']:.1%} less** — "
         + met(s["travel_saving"] >= d["targets"]["scarce_saving"], ">= 20 %")],
        ["check: the full matrix's optimum", ms(s["dense_optimum_check"]["ms_without_matrix"]),
         f"{num(s['dense_optimum_check']['total_km'])} km (the sparse graph lost nothing "
         f"if equal)"],
    ]
    return (table([f"rank one task among {num(p['volunteers'], 0)} volunteers", "p50", "p95",
                   "index's speed-up (p50 / p95)"], rank_rows)
            + "\n" + agreement + "\n"
            + table(["volunteers", "index p50", "index p95", "fair p50", "fair p95",
                     "speed-up (p50 / p95)", "index wins"], size_rows)
            + "\n" + wins + "\n\n"
            + table(["batch and scarce pool", "time", "outcome"], other_rows)
            + "\n" + provenance(d))


def volunteer_import() -> str:
    docs = [load("volunteer_import"), load("volunteer_import_postgresql")]
    n = next((d["parameters"]["rows"] for d in docs if d), 0)

    def target(d) -> str:
        t = d["targets"]
        return ("<= 10 s" if d["database"]["dialect"] == "sqlite"
                else f">= {num(t['postgresql_rows_per_s'], 0)} rows/s")

    rows = [
        ["import (`hubcore import volunteers`' code)"] + both(docs, lambda d: (
            f"**{num(d['import']['seconds'], 1)} s, {num(d['import']['rows_per_s'], 0)} "
            f"rows/s** — " + met(d["meets_target"], target(d))
            + f" (CPU {num(d['import']['process_cpu_seconds'], 1)} s)")),
        ["baseline: plain Core insert, checked rows"] + both(docs, lambda d: (
            f"{num(d['baseline_plain_insert']['seconds'], 1)} s (import "
            f"{num(d['ratio_to_baseline'], 2)}x faster)")),
        ["floor: the import's writer alone, no checking"] + both(docs, lambda d: (
            f"{num(d['floor_driver_writer_alone']['seconds'], 1)} s, "
            f"{num(d['floor_driver_writer_alone']['rows_per_s'], 0)} rows/s")),
    ]
    return table([f"{num(n, 0)} rows"] + columns(*docs), rows) + "\n" + provenance(*docs)


def hub() -> str:
    intakes = [load("help_requests_intake"), load("help_requests_intake_postgresql")]
    queues = [load("help_requests_queue"), load("help_requests_queue_postgresql")]

    def gunicorn(d) -> str:
        g = d["gunicorn"]
        return (f"{g['workers']} {g['worker_class']} workers"
                + (f" x {g['threads']} threads" if g["threads"] > 1 else "")
                + (", access log" if g["access_log"] else ", no access log")
                + (f", `{g['config']}`" if g["config"] else ", gunicorn's defaults"))

    rows = [
        ["intake: gunicorn settings"] + both(intakes, gunicorn),
        ["intake, created/s (p50 / p99)"] + both(intakes, lambda d: (
            f"**{num(d['intake']['created_per_s'], 0)} /s** ({ms(d['intake']['p50_ms'])} / "
            f"{ms(d['intake']['p99_ms'])}) — throughput "
            + met(d["meets_targets"]["throughput"], f">= {d['targets']['created_per_s']} /s")
            + ", p99 " + met(d["meets_targets"]["p99"], "<= 100 ms")
            + ("" if d["meets_targets"]["no_errors"]
               else f"; statuses {d['intake']['statuses']}"))),
        ["baseline: bare insert, created/s, same settings"] + both(intakes, lambda d: (
            f"{num(d['bare_insert']['created_per_s'], 0)} /s ({ms(d['bare_insert']['p50_ms'])} /"
            f" {ms(d['bare_insert']['p99_ms'])})")),
        ["intake / baseline"] + both(intakes, lambda d: (
            f"**{num(d['ratio_to_baseline'], 2)}** — "
            + met(d["meets_targets"]["ratio"], ">= 0.5"))),
        ["queue: one district's page + counts, p50 / p95"] + both(queues, lambda d: (
            f"{ms(d['timings']['district_page']['p50_ms'])} / "
            f"**{ms(d['timings']['district_page']['p95_ms'])}** — "
            + met(d["meets_targets"]["district_page_p95"], "<= 50 ms"))),
        ["baseline: the same query ordered by the stored score, p50 / p95"] + both(
            queues, lambda d: (f"{ms(d['timings']['baseline_stored_score']['p50_ms'])} / "
                               f"{ms(d['timings']['baseline_stored_score']['p95_ms'])} (page = "
                               f"{num(d['ratio_to_baseline'], 2)}x at p50)")),
        ["queue: all 10 districts' page, p50"] + both(
            queues, lambda d: ms(d["timings"]["region_page"]["p50_ms"])),
    ]
    params = next((d["parameters"] for d in intakes if d), None)
    qparams = next((d["parameters"] for d in queues if d), None)
    header = ["hub requests" + (f" (intake {num(params['seconds'], 0)} s, "
                                f"{params['concurrency']} clients" if params else "")
              + (f"; queue {num(qparams['requests'], 0)} open requests, "
                 f"{qparams['queries']} queries)" if qparams else ")")]
    return table(header + columns(*intakes), rows) + "\n" + provenance(*intakes, *queues)


TABLES = {"audit": audit, "login": login, "matching": matching,
          "volunteer_import": volunteer_import, "hub": hub}


def render(text: str) -> str:
    """``text`` with every marked table rewritten from the result files."""
    seen = set()

    def replace(match: re.Match) -> str:
        name = match["name"]
        if name not in TABLES:
            raise SystemExit(f"README marker report:{name} names no table in bench/report.py")
        seen.add(name)
        return match.group(1) + TABLES[name]() + match.group(4)

    rendered = MARKER.sub(replace, text)
    missing = set(TABLES) - seen
    if missing:
        raise SystemExit(f"bench/README.md has no markers for {sorted(missing)}")
    return rendered


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if the README's tables are not the files'")
    parser.add_argument("--readme", default=str(README), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    path = Path(args.readme)
    current = path.read_text(encoding="utf-8")
    wanted = render(current)
    if args.check:
        if wanted != current:
            print(f"{path} is out of date with bench/results/: run python bench/report.py",
                  file=sys.stderr)
            return 1
        print(f"{path} matches bench/results/")
        return 0
    if wanted != current:
        path.write_text(wanted, encoding="utf-8")
        print(f"{path} rewritten from bench/results/")
    else:
        print(f"{path} already matches bench/results/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
