"""Scale curves: the bulk invite at growing sizes, on SQLite and on PostgreSQL, and events with
more and more distributions per trigger; a table and a PNG plot.

Runs the benchmarks themselves, each in a process of its own, and reads their JSON lines:
``bulk.py --customers N`` (embedded, SQLite), ``bulk_distributed.py --workers W --customers N``
(PostgreSQL, ``TEST_DATABASE_URL``; default 2 workers) and ``events.py --distributions D``. Each
brings its own floor (``benchmarks/floors/``), so every row has ours, the floor and the ratio.
The table gives messages per second, peak memory (SQLite: the app's process and the preparation
process together; PostgreSQL: the largest worker) and the time of each phase the bulk job
reports: preparation (first to last row written), sending (first to last ``sent``) and the first
message (from the request). The plot (matplotlib, with the test tools: ``pip install -e
'.[test]'``) shows the same against size.

    PYTHONPATH=. .venv/bin/python benchmarks/scale.py [--sizes 10000,100000,1000000]
        [--backends sqlite,postgresql] [--workers 2] [--distributions 1,10,100]
        [--events-seconds 10] [--plot scale.png | --no-plot]

A short run: ``--sizes 10000 --backends sqlite --distributions 1,10 --events-seconds 3``. The
1,000,000-recipient runs take long (tens of minutes each): run them on a machine of their own.
Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder comes first on sys.path and benchmarks/providers.py would
# shadow the `providers` package; the repository root must win.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))

from benchmarks.floors import ratio, run_script  # noqa: E402

BENCHMARKS = ROOT / "benchmarks"


def _numbers(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def _run(script: str, *arguments: str) -> dict[str, Any]:
    """Run ``benchmarks/<script>`` to its end; the figures of its JSON line."""
    print(f"running {script} {' '.join(arguments)}", flush=True)
    return run_script(BENCHMARKS / script, *arguments)


def bulk_row(backend: str, size: int, workers: int) -> dict[str, Any]:
    """One bulk invite of ``size`` recipients on ``backend``: the row of the table."""
    if backend == "sqlite":
        figures = _run("bulk.py", "--customers", str(size))
        ours = figures["ours"]
        floor = figures["floor"]["messages_per_second"]
        return {
            "backend": "sqlite",
            "recipients": size,
            "messages_per_second": ours["messages_per_second"],
            "peak_rss_mb": ours["peak_rss_mb"],
            "preparation_seconds": figures["preparing_wall_seconds"],
            "sending_seconds": figures["delivering_seconds"],
            "first_message_seconds": figures["first_sent_seconds"],
            "floor_messages_per_second": floor,
            "ratio": figures["ratio"],
        }
    figures = _run("bulk_distributed.py", "--workers", str(workers), "--customers", str(size))
    run = figures["runs"][0]
    floor = figures["floor"]["bulk_send"]["messages_per_second"]
    return {
        "backend": f"postgresql, {workers} workers",
        "recipients": size,
        "messages_per_second": run["messages_per_second"],
        "peak_rss_mb": run["worker_peak_rss_mb"],
        "preparation_seconds": run["preparing_seconds"],
        "sending_seconds": run["delivering_seconds"],
        "first_message_seconds": run["first_sent_seconds"],
        "floor_messages_per_second": floor,
        "ratio": {"messages_per_second": ratio(floor, run["messages_per_second"])},
    }


def events_row(distributions: int, seconds: float) -> dict[str, Any]:
    """Events with ``distributions`` distributions on their trigger: the row of the table."""
    figures = _run(
        "events.py",
        "--distributions",
        str(distributions),
        "--seconds",
        str(seconds),
        "--paced-seconds",
        str(seconds),
        "--baseline-seconds",
        str(max(1.0, seconds / 4)),
    )
    rate = figures["events_per_second"]
    return {
        "distributions": distributions,
        "events_per_second": rate,
        "messages_per_second": rate * distributions,
        "cpu_ms_per_event": figures["ours"]["cpu_ms_per_event"],
        "p99_at_80_percent_ms": figures["ours"]["p99_at_80_percent_ms"],
        "lost": figures["lost"],
        "floor_events_per_second": figures["floor"]["post_per_second"],
        "ratio": figures["ratio"],
    }


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    """Rows as aligned text, ``columns`` being (heading, key)."""
    cells = [[heading for heading, _ in columns]]
    cells += [
        [
            f"{row[key]:,}" if isinstance(row[key], int | float) else str(row[key])
            for _, key in columns
        ]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in cells
    )


def plot(bulk: list[dict[str, Any]], events: list[dict[str, Any]], path: Path) -> None:
    """The curves, as a PNG: rate, memory and phases against recipients; events' rates."""
    import matplotlib

    matplotlib.use("Agg")  # no display: a file only
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(1, 4, figsize=(20, 4.5))
    for backend in dict.fromkeys(row["backend"] for row in bulk):
        rows = sorted((r for r in bulk if r["backend"] == backend), key=lambda r: r["recipients"])
        sizes = [r["recipients"] for r in rows]
        line = axes[0].plot(sizes, [r["messages_per_second"] for r in rows], "o-", label=backend)
        colour = line[0].get_color()
        axes[0].plot(
            sizes,
            [r["floor_messages_per_second"] for r in rows],
            "o--",
            color=colour,
            label=f"floor ({backend})",
        )
        axes[1].plot(sizes, [r["peak_rss_mb"] for r in rows], "o-", label=backend)
        for phase, style in (("preparation", "o-"), ("sending", "s--"), ("first_message", "^:")):
            axes[2].plot(
                sizes,
                [r[f"{phase}_seconds"] for r in rows],
                style,
                color=colour,
                label=f"{phase.replace('_', ' ')} ({backend})",
            )
    for axis, title in zip(
        axes[:3], ("bulk: messages/s", "bulk: peak memory (MB)", "bulk: phases (s)"), strict=True
    ):
        axis.set_xscale("log")
        axis.set_xlabel("recipients")
        axis.set_title(title)
        axis.legend(fontsize="small")
    if events:
        counts = [r["distributions"] for r in events]
        axes[3].plot(counts, [r["events_per_second"] for r in events], "o-", label="events/s")
        axes[3].plot(counts, [r["messages_per_second"] for r in events], "s-", label="messages/s")
        axes[3].plot(
            counts, [r["floor_events_per_second"] for r in events], "o--", label="floor events/s"
        )
        axes[3].set_xscale("log")
        axes[3].legend(fontsize="small")
    axes[3].set_xlabel("distributions per trigger")
    axes[3].set_title("events in to send")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="10000,100000,1000000", help="recipients, comma-separated"
    )
    parser.add_argument("--backends", default="sqlite,postgresql", help="sqlite and/or postgresql")
    parser.add_argument("--workers", type=int, default=2, help="PostgreSQL's dm worker processes")
    parser.add_argument(
        "--distributions", default="1,10,100", help="per trigger, comma-separated; empty: none"
    )
    parser.add_argument("--events-seconds", type=float, default=10.0)
    parser.add_argument("--plot", type=Path, default=Path("scale.png"))
    parser.add_argument("--no-plot", action="store_true", help="the table only (no matplotlib)")
    args = parser.parse_args()
    if not args.no_plot and importlib.util.find_spec("matplotlib") is None:
        # Said before the long runs, not after them.
        parser.error("the plot needs matplotlib: pip install -e '.[test]', or --no-plot")
    backends = [b for b in args.backends.split(",") if b]
    unknown = set(backends) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown backends: {', '.join(sorted(unknown))}")

    bulk = [
        bulk_row(backend, size, args.workers)
        for backend in backends
        for size in _numbers(args.sizes)
    ]
    events = [events_row(count, args.events_seconds) for count in _numbers(args.distributions)]
    print()
    print(
        _table(
            bulk,
            [
                ("backend", "backend"),
                ("recipients", "recipients"),
                ("msg/s", "messages_per_second"),
                ("floor msg/s", "floor_messages_per_second"),
                ("peak MB", "peak_rss_mb"),
                ("preparation s", "preparation_seconds"),
                ("sending s", "sending_seconds"),
                ("first message s", "first_message_seconds"),
            ],
        )
    )
    if events:
        print()
        print(
            _table(
                events,
                [
                    ("distributions", "distributions"),
                    ("events/s", "events_per_second"),
                    ("msg/s", "messages_per_second"),
                    ("CPU ms/event", "cpu_ms_per_event"),
                    ("p99 at 80% ms", "p99_at_80_percent_ms"),
                    ("floor events/s", "floor_events_per_second"),
                    ("lost", "lost"),
                ],
            )
        )
    if not args.no_plot:
        plot(bulk, events, args.plot)
        print(f"\nplot: {args.plot}")
    # Like against like: a bulk job's messages, an event's intake (its floor takes events in).
    ours: dict[str, Any] = {}
    floors: dict[str, Any] = {}
    ratios: dict[str, Any] = {}
    for row in bulk:
        key = f"bulk_{row['backend'].split(',')[0]}_{row['recipients']}"
        ours[key] = row["messages_per_second"]
        floors[key] = row["floor_messages_per_second"]
        ratios[key] = row["ratio"]
    for row in events:
        key = f"events_{row['distributions']}_distributions"
        ours[key] = row["events_per_second"]
        floors[key] = row["floor_events_per_second"]
        ratios[key] = row["ratio"]
    print(
        json.dumps(
            {
                "benchmark": "scale",
                "bulk": bulk,
                "events": events,
                "plot": None if args.no_plot else str(args.plot),
                "ours": ours,
                "floor": floors,
                "ratio": ratios,
            }
        )
    )


if __name__ == "__main__":
    main()
