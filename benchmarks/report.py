"""The report: one table per section, and the targets with PASS/FAIL."""

from __future__ import annotations

from typing import Any

from benchmarks.common import HELLO

# Targets (issue 5), as ratios of the bare hello function where they can be.
COLD_START_MAX_RATIO = 1.5
GET_P50_MAX_RATIO = 2.0
RSS_MAX_MIB = 128.0


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_table(title: str, headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
    line = "  ".join("-" * w for w in widths)
    print(f"\n## {title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print(line)
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


def report(cold: dict[str, Any], imports: dict[str, Any], warm: dict[str, Any]) -> dict[str, bool]:
    bare_cold = cold[HELLO]["cold_start_s"]
    print_table(
        "1. Cold start (process start to first answer, median) and 4. peak RSS",
        ["function", "cold start ms", "x bare", "best ms", "first status", "peak RSS MiB", "x bare"],
        [
            [
                n,
                f"{r['cold_start_s'] * 1000:.0f}",
                f"{r['cold_start_s'] / bare_cold:.2f}",
                f"{min(r['cold_start_runs']) * 1000:.0f}",
                r["first_status"],
                f"{r['peak_rss_mib']:.1f}",
                f"{r['peak_rss_mib'] / cold[HELLO]['peak_rss_mib']:.2f}",
            ]
            for n, r in cold.items()
        ],
    )

    rows = []
    for label in ("get", "list", "setup"):
        for concurrency in (1, 16):
            r, bare = warm[f"{label}@{concurrency}"], warm[f"hello@{concurrency}"]
            rows.append(
                [
                    label,
                    concurrency,
                    f"{r['p50_ms']:.2f}",
                    f"{r['p50_ms'] / bare['p50_ms']:.2f}",
                    f"{r['p99_ms']:.2f}",
                    f"{r['p99_ms'] / bare['p99_ms']:.2f}",
                    r["requests"],
                    r["errors"],
                ]
            )
    for concurrency in (1, 16):
        r = warm[f"hello@{concurrency}"]
        rows.append(
            [
                "hello (bare)",
                concurrency,
                f"{r['p50_ms']:.2f}",
                "1.00",
                f"{r['p99_ms']:.2f}",
                "1.00",
                r["requests"],
                r["errors"],
            ]
        )
    print_table(
        "2. Warm latency (shared.cli serve vs hello on the same werkzeug threaded server)",
        ["endpoint", "concurrency", "p50 ms", "x bare", "p99 ms", "x bare", "requests", "errors"],
        rows,
    )

    setup16, hello16 = warm["setup@16"], warm["hello@16"]
    print_table(
        "3. Setup throughput, embedded backends (new key each request: encrypt, store, queue)",
        ["what", "concurrency", "requests/s", "x bare"],
        [
            [
                "setup",
                16,
                f"{setup16['throughput_rps']:.0f}",
                f"{setup16['throughput_rps'] / hello16['throughput_rps']:.2f}",
            ],
            ["hello (bare)", 16, f"{hello16['throughput_rps']:.0f}", "1.00"],
        ],
    )

    bare_import = imports[HELLO]["import_total_ms"]
    print_table(
        "5. Import time (-X importtime, top-level cumulative, median) and google-cloud client libraries",
        ["function", "module load ms", "+ first request ms", "x bare", "google-cloud imports", "check"],
        [
            [
                n,
                f"{r['import_load_ms']:.0f}",
                f"{r['import_total_ms']:.0f}",
                f"{r['import_total_ms'] / bare_import:.2f}",
                ", ".join(r["google_cloud_modules"][:3]) or "none",
                verdict(not r["google_cloud_modules"]),
            ]
            for n, r in imports.items()
        ],
    )

    functions = [n for n in cold if n != HELLO]
    worst_cold = max(functions, key=lambda n: cold[n]["cold_start_s"])
    worst_rss = max(functions, key=lambda n: cold[n]["peak_rss_mib"])
    cold_ratio = cold[worst_cold]["cold_start_s"] / bare_cold
    get_ratios = {c: warm[f"get@{c}"]["p50_ms"] / warm[f"hello@{c}"]["p50_ms"] for c in (1, 16)}
    leaking = [n for n in imports if imports[n]["google_cloud_modules"]]
    checks = {
        "cold_start": cold_ratio <= COLD_START_MAX_RATIO,
        "get_p50": all(r <= GET_P50_MAX_RATIO for r in get_ratios.values()),
        "rss": cold[worst_rss]["peak_rss_mib"] <= RSS_MAX_MIB,
        "no_google_cloud": not leaking,
    }
    print_table(
        "Targets",
        ["target", "measured", "result"],
        [
            [
                f"cold start <= {COLD_START_MAX_RATIO}x bare (every function)",
                f"{cold_ratio:.2f}x ({worst_cold})",
                verdict(checks["cold_start"]),
            ],
            [
                f"warm p50 of get <= {GET_P50_MAX_RATIO}x bare (c=1, c=16)",
                f"{get_ratios[1]:.2f}x, {get_ratios[16]:.2f}x",
                verdict(checks["get_p50"]),
            ],
            [
                f"peak RSS <= {RSS_MAX_MIB:.0f} MiB (every function)",
                f"{cold[worst_rss]['peak_rss_mib']:.1f} MiB ({worst_rss})",
                verdict(checks["rss"]),
            ],
            [
                "no google-cloud client library on embedded defaults",
                ", ".join(leaking) or "none imported",
                verdict(checks["no_google_cloud"]),
            ],
        ],
    )
    return checks
