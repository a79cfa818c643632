"""make bench: the cost model of usage ingestion, each figure beside its baseline in the same run.

    .venv/bin/python -m bench [--events 3000] [--naive-events 1000] [--seed N] [--skip-imports]

Write and read units are counted (botocore hooks on the domain's DynamoDB client), never timed.
Times are CPU time or medians of fresh interpreters, reported as ratios to a baseline measured
alongside, because absolute times on a shared machine drift. Writes bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import cost
from bench.workload import Mix, generate

RESULTS = Path(__file__).resolve().parent / "results.json"
FULL = Mix()


def _row(figure: str, value: float | str, baseline: float | str | None, target: str, met: bool | None,
         ratio: float | None = None, fmt: str = "{:.3f}") -> dict[str, Any]:
    def show(v: Any) -> str:
        return fmt.format(v) if isinstance(v, int | float) else ("-" if v is None else str(v))

    if ratio is None and isinstance(value, int | float) and isinstance(baseline, int | float) and baseline:
        ratio = value / baseline
    return {"figure": figure, "value": show(value), "baseline": show(baseline),
            "ratio": "-" if ratio is None else f"{ratio:.2f}", "target": target,
            "met": "-" if met is None else ("yes" if met else "NO")}


def _print_table(rows: list[dict[str, Any]]) -> None:
    cols = ["figure", "value", "baseline", "ratio", "target", "met"]
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    print("  ".join("-" * widths[c] for c in cols))
    for r in rows:
        print("  ".join(r[c].ljust(widths[c]) for c in cols))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=3000,
                        help="messages of the workload (the issue's full size is 10000; moto makes that ~10 min)")
    parser.add_argument("--naive-events", type=int, default=1000,
                        help="prefix of the same workload run through the naive consumer (its cost is per event)")
    parser.add_argument("--seed", type=int, default=FULL.seed)
    parser.add_argument("--skip-imports", action="store_true")
    args = parser.parse_args()
    wall = time.perf_counter()

    # Same distribution at any size: 200 Zipf accounts and 1,000 executions, so a batch of 100 holds the
    # same mix of accounts and executions as in the full 10,000-event run (only the stream is shorter).
    mix = replace(FULL, events=args.events, seed=args.seed)

    from bench import consume, cpu, imports, reads
    from bench.stack import START, moto_stack
    from bench.workload import Workload

    workload = generate(mix, START)
    results: dict[str, Any] = {"workload": {**mix.__dict__, "counts": workload.counts}}
    with moto_stack() as template:
        spec = consume.consumer_spec(template)
        results["consumer"] = spec.__dict__
        real = consume.run_real(template, workload, spec)
        naive_workload = Workload(mix, workload.account_ids, workload.records[: args.naive_events])
        naive = consume.run_naive(template, naive_workload, spec)
        read_figures = reads.measure(template, spec.batch_size)
    batches = workload.batches(spec.batch_size)
    cpu_figures = cpu.measure(workload.account_ids, batches)
    import_figures = None if args.skip_imports else imports.measure(template, runs=5)

    rows: list[dict[str, Any]] = []
    # 1. write units per event
    wru = real.tally.total_wru / real.messages
    naive_wru = naive.tally.total_wru / naive.messages
    rows.append(_row("1. DynamoDB WRU per usage event (all kinds)", wru, naive_wru, "<= 4.0", wru <= 4.0))
    naive_by_kind = {k: v / naive.messages for k, v in naive.tally.wru.items()}
    for kind, units in sorted(real.tally.wru.items(), key=lambda kv: -kv[1]):
        rows.append(_row(f"   {kind}", units / real.messages, naive_by_kind.get(kind, 0.0), "", None))
    rows.append(_row("   of which failed/cancelled writes", real.tally.wru_failed / real.messages,
                     naive.tally.wru_failed / naive.messages, "", None))
    # 2. dollars per million
    usd = cost.per_million(real, cpu_figures["consumer_cpu_ms_per_batch"], spec.memory_mb)
    naive_usd = cost.per_million(naive, cpu_figures["consumer_cpu_ms_per_batch"], spec.memory_mb)
    rows.append(_row("2. USD per million usage events, all-in", usd["usd_per_million"],
                     naive_usd["usd_per_million"], "<= 2.75", usd["usd_per_million"] <= 2.75))
    for part, value in usd["parts"].items():
        rows.append(_row(f"   {part}", value, naive_usd["parts"][part], "", None))
    # 3. hottest account
    hot = max(workload.events_per_account, key=workload.events_per_account.get)  # type: ignore[arg-type]
    hot_events = workload.events_per_account[hot]
    pk_repr = str({"S": f"A#{hot}"})
    wallet_writes = real.tally.wallet_writes.get(pk_repr, 0) / hot_events
    naive_hot_events = sum(1 for r in naive_workload.records if f'"account_id":"{hot}"' in r["body"])
    naive_wallet = naive.tally.wallet_writes.get(pk_repr, 0) / max(1, naive_hot_events)
    per_partition = [u / hot_events for (where, p), u in real.tally.partition_wru.items() if p == pk_repr]
    hot_units = max(per_partition) if per_partition else 0.0
    max_eps = 1000 / hot_units if hot_units else float("inf")
    rows.append(_row(f"3. hottest account ({hot}, {hot_events} events) wallet writes/event", wallet_writes,
                     naive_wallet, "<= 0.1", wallet_writes <= 0.1))
    rows.append(_row("   its WRU/event on its busiest partition", hot_units, None, "", None))
    rows.append(_row("   implied max sustained events/s (1,000 WRU/s/partition)", max_eps, None, "", None,
                     fmt="{:.0f}"))
    # 4. CPU
    rows.append(_row("4. consumer CPU us/event, storage stubbed", cpu_figures["consumer_cpu_us_per_event"],
                     cpu_figures["parse_cpu_us_per_event"], "<= 3x parse", cpu_figures["ratio"] <= 3.0,
                     fmt="{:.0f}"))
    # 5. reads
    lines = read_figures["lines"]
    for name in ("balance", "execution spend summary", "task spend summary", "monthly statement"):
        small, large = read_figures["small"][name]["rru"], read_figures["large"][name]["rru"]
        rows.append(_row(f"5. RRU {name} @ {lines['large']} lines (baseline @ {lines['small']})", large, small,
                         "ratio 1.0", large == small, fmt="{:.1f}"))
    for size in ("small", "large"):
        page = read_figures[size]["ledger page by execution"]
        rows.append(_row(f"   items read, ledger page by execution @ {lines[size]} lines", page["items_read"],
                         page["limit"], "<= 2x limit", page["items_read"] <= 2 * page["limit"], fmt="{:.0f}"))
    # 6. cold imports
    if import_figures:
        for lid, fig in import_figures["functions"].items():
            if "error" in fig:
                rows.append(_row(f"6. cold import {lid}", fig["error"], None, "<= 1.8x boto3", False))
                continue
            rows.append(_row(f"6. cold import {lid} (ms, median)", fig["median_ms"],
                             import_figures["boto3_median_ms"], "<= 1.8x boto3", fig["ratio"] <= 1.8,
                             ratio=fig["ratio"], fmt="{:.0f}"))

    runtime = time.perf_counter() - wall
    print(f"make bench: {real.messages} messages ({workload.counts}) over {mix.accounts} Zipf s={mix.zipf_s} "
          f"accounts, {mix.executions} executions, seed {mix.seed}; SQS batches of {spec.batch_size} "
          f"(template), {real.invocations} invocations; naive baseline on the first {naive.messages} messages.")
    print(f"verdicts: real {dict(real.verdicts)}, naive {dict(naive.verdicts)}\n")
    _print_table(rows)
    print(f"\nprices (us-east-1 on-demand, as of {cost.PRICES_DATE}): "
          + ", ".join(f"{k} ${v:.10g}" for k, v in cost.PRICES.items()))
    lam = usd["lambda_ms_per_batch"]
    print(f"Lambda ms per batch at {spec.memory_mb} MB {spec.architecture}: CPU {lam['cpu_at_memory']:.0f} "
          f"(measured CPU x {cost.FULL_VCPU_MB}/{spec.memory_mb}) + I/O wait {lam['io_wait']:.0f} "
          f"(assumed latencies {cost.LATENCY_MS}) = {lam['total']:.0f}")
    print(f"SQS requests/event {usd['sqs_requests_per_event']:.3f} (send, receive, delete in batches of "
          f"{cost.SQS_BATCH}, + DLQ sends); moto time: real {real.seconds:.0f}s, naive {naive.seconds:.0f}s")
    if import_figures and import_figures["swapped_native"]:
        print(f"cold imports: arm64 layer, native packages {import_figures['swapped_native']} swapped for this "
              "machine's build of the same version")
    print(f"runtime {runtime:.0f}s; results in bench/{RESULTS.name}")

    results.update({
        "runtime_seconds": runtime,
        "table": rows,
        "writes": {"real": {**real.tally.as_dict(), "messages": real.messages, "invocations": real.invocations,
                            "verdicts": dict(real.verdicts), "account_setup_wru": real.setup.total_wru},
                   "naive": {**naive.tally.as_dict(), "messages": naive.messages,
                             "verdicts": dict(naive.verdicts)}},
        "cost": {"prices": cost.PRICES, "prices_date": cost.PRICES_DATE, "sources": cost.PRICE_SOURCES,
                 "latency_ms_assumed": cost.LATENCY_MS, "real": usd, "naive": naive_usd},
        "hottest_account": {"account_id": hot, "events": hot_events, "wallet_writes_per_event": wallet_writes,
                            "wru_per_event_busiest_partition": hot_units, "implied_max_events_per_s": max_eps},
        "cpu": cpu_figures,
        "reads": read_figures,
        "cold_imports": import_figures,
    })
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
