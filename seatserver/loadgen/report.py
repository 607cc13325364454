"""The run's report: a JSON document and a self-contained HTML page.

The JSON keeps each latency histogram whole (HdrHistogram's base64 form), so
that runs can be merged or re-read later; the HTML page draws it.
"""

from __future__ import annotations

import html
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from seatserver.loadgen import charts
from seatserver.loadgen.audit import FAILED, NOT_RUN, PASSED, Audit, describe
from seatserver.loadgen.ledger import Wait
from seatserver.loadgen.onsale import SaleSetup
from seatserver.loadgen.options import LoadOptions
from seatserver.loadgen.queueing import fairness
from seatserver.loadgen.seatmap import ShowtimePlan
from seatserver.loadgen.stats import (
    METRICS,
    Aggregate,
    buckets,
    error_codes,
    server_limits,
    summary,
)


def redacted(url: str | None) -> str | None:
    """A store URL without its password."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def build(options: LoadOptions, plans: list[ShowtimePlan], agg: Aggregate, audit: Audit, *,
          started: float, stopped: float, stopped_by: str, partial: bool) -> dict[str, Any]:
    """``started`` to ``stopped`` is the time buyers acted; the audit follows."""
    opts = asdict(options)
    opts["report"] = str(options.report)
    opts["redis_url"] = redacted(options.redis_url)
    opts["database_url"] = redacted(options.database_url)
    # Secrets are never written down: only whether one was given.
    opts["admin_password"] = "***" if options.admin_password else None
    opts["admin_totp_secret"] = "***" if options.admin_totp_secret else None
    opts["metrics_token"] = "***" if options.metrics_token else None
    return {
        "tool": "seatserver loadgen",
        "started_at": datetime.fromtimestamp(started, UTC).isoformat(),
        "elapsed_s": round(max(0.0, stopped - started), 3),
        "wind_down_s": round(time.time() - stopped, 3),
        "stopped_by": stopped_by,
        "partial": partial,
        "options": opts,
        "showtimes": [{"id": p.id, "seats": len(p.seats)} for p in plans],
        "totals": dict(sorted(agg.totals.items())),
        "latency": {name: {"what": METRICS[name], **summary(h),
                           "hdr_histogram": h.encode().decode("ascii")}
                    for name, h in agg.histograms.items()},
        "errors": error_codes(agg.totals),
        "server_limits": server_limits(agg.totals),
        "series": agg.series,
        "audit": {"passed": audit.passed, "checks": describe(audit.checks)},
    }


def queue_section(options: LoadOptions, sale: SaleSetup, waits: list[Wait],
                  agg: Aggregate) -> dict[str, Any] | None:
    """The waiting rooms: how long buyers waited, how many gave up, and the
    order they were let in (None: no buyer met a waiting room)."""
    if options.scenario != "onsale" and not waits:
        return None
    rooms = fairness(waits)
    return {
        "scenario": options.scenario,
        "settings": [{"showtime": r.showtime, "waiting_room": r.waiting_room,
                      "on_sale_at": r.on_sale_at, "set_by_loadgen": r.before is not None,
                      "restored": r.restored or None} for r in sale.rooms.values()],
        "waits": len(waits),
        "admitted": sum(1 for w in waits if w.outcome == "admitted"),
        "abandoned": sum(1 for w in waits if w.outcome == "abandoned"),
        "still_waiting": sum(1 for w in waits if w.outcome == "still_waiting"),
        "probes_refused": agg.totals.get("hold.refused.not_admitted", 0),
        "wait": summary(agg.histograms["queue"]),
        "showtimes": rooms,
    }


def queue_line(queue: dict[str, Any]) -> str:
    wait = queue["wait"]
    rhos = ", ".join(f"showtime {r['showtime']} {r['spearman_rho']}" for r in queue["showtimes"]
                     if r["spearman_rho"] is not None) or "-"
    fifo = sum(r["fifo_violations"] for r in queue["showtimes"])
    return (f"waiting room: {queue['waits']} waits, {queue['admitted']} admitted, "
            f"{queue['abandoned']} abandoned, {queue['still_waiting']} still waiting at the "
            f"end; wait p50/p99 {_ms(wait.get('p50_ms'))}/{_ms(wait.get('p99_ms'))}; "
            f"admission order vs arrival before the opening: Spearman rho {rhos}; later "
            f"arrivals admitted out of turn {fifo}")


def cpu_line(cpu: dict[str, Any]) -> str:
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"
    line = (f"load generator CPU: {cpu['cpu_s']} s over {cpu['wall_s']} s on {cpu['cores']:g} "
            f"cores ({pct(cpu['share_of_cores'])} of them; busiest second "
            f"{pct(cpu['peak_second_share'])}; event loop late by up to "
            f"{cpu['loop_lag_max_ms']} ms)")
    collector = cpu.get("collector")
    if collector:
        line += (f"; its workers' garbage collection {sum(collector['seconds']):.2f} s "
                 f"({collector['collections'][-1]} full, the longest pause "
                 f"{max(collector['longest_ms']):.0f} ms)")
    return line


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def write(report: dict[str, Any], agg: Aggregate, prefix: Path) -> tuple[Path, Path]:
    prefix.parent.mkdir(parents=True, exist_ok=True)
    json_path = prefix.with_name(prefix.name + ".json")
    html_path = prefix.with_name(prefix.name + ".html")
    json_path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    html_path.write_text(page(report, agg), encoding="utf-8")
    return json_path, html_path


CSS = """
body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:58rem;padding:0 1rem;
color:#1b1b1b}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.25rem .6rem;text-align:left;
border-bottom:1px solid #ddd;vertical-align:top}th{background:#f3f3f3}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.passed{color:#03612e;font-weight:bold}.failed,.not-run{color:#a30000;font-weight:bold}
.skipped{color:#6b5200;font-weight:bold}
.verdict{font-size:1.3rem;padding:.6rem 1rem;border:2px solid;display:inline-block}
.chart{width:100%;height:auto;max-width:680px;display:block;margin:1rem 0}
.chart .title{font-weight:bold;font-size:14px}.chart .label{font-size:12px}
.chart .tick{font-size:11px}.chart .axis{stroke:#333}.chart .grid{stroke:#e4e4e4}
.chart text{fill:#1b1b1b}
code{font-size:.9em}details{margin:.2rem 0}ul.details{margin:.2rem 0 .5rem 1rem}
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def page(report: dict[str, Any], agg: Aggregate) -> str:
    audit = report["audit"]
    verdict = "passed" if audit["passed"] else "failed"
    opts = report["options"]
    parts = [
        '<!doctype html><html lang="en"><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width">',
        f"<title>seatserver loadgen: audit {verdict}</title><style>{CSS}</style><body>",
        f"<h1>Load run against {_e(opts['url'])}</h1>",
        f'<p class="verdict {verdict}">Audit {verdict}</p>',
        "<p>" + _e(f"{opts['clients']} clients, {opts['workers']} worker(s), "
                   f"{report['elapsed_s']} s from {report['started_at']}; stopped by "
                   f"{report['stopped_by']}; seed {opts['seed']}."),
    ]
    if report["partial"]:
        parts.append(" <strong>Partial run</strong>: stopped before its end; the figures "
                     "and the audit cover what ran.")
    parts.append("</p>")
    if report.get("loadgen_cpu", {}).get("warning"):
        parts.append(f'<p class="verdict failed">Warning: '
                     f'{_e(report["loadgen_cpu"]["warning"])}</p>')
    parts += _audit(audit["checks"])
    parts += _queue(report.get("queue"), agg)
    parts += _latency(report, agg)
    parts += _server(report.get("server_latency"))
    parts += _cpu(report.get("loadgen_cpu"), report["series"])
    parts += _over_time(report["series"])
    parts += _limits(report["server_limits"])
    parts += _errors(report["errors"])
    parts += _options(report)
    parts.append("<p><small>How to read this page: docs/loadgen.md.</small></p></body></html>")
    return "".join(parts)


def _audit(checks: list[dict[str, Any]]) -> list[str]:
    out = ["<h2>Audit</h2><table><tr><th>Check</th><th>Result</th><th>Figures</th></tr>"]
    for c in checks:
        figures = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in c["figures"].items())
        details = ""
        if c["details"]:
            items = "".join(f"<li>{_e(d)}</li>" for d in c["details"])
            details = f'<ul class="details">{items}</ul>'
        css = {PASSED: "passed", FAILED: "failed", NOT_RUN: "not-run"}.get(c["status"],
                                                                            "skipped")
        out.append(f"<tr><td>{_e(c['title'])}</td><td class=\"{css}\">{_e(c['status'])}</td>"
                   f"<td>{_e(figures)}{details}</td></tr>")
    out.append("</table>")
    return out


def _latency(report: dict[str, Any], agg: Aggregate) -> list[str]:
    out = ["<h2>Latency</h2><table><tr><th>What</th><th>Samples</th><th>p50</th>"
           "<th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>"]
    for s in report["latency"].values():
        cells = "".join(
            f'<td class="n">{charts.fmt(s[k])} ms</td>' if k in s else '<td class="n">-</td>'
            for k in ("p50_ms", "p90_ms", "p99_ms", "p99.9_ms", "max_ms"))
        out.append(f"<tr><td>{_e(s['what'])}</td><td class=\"n\">{s['count']}</td>{cells}</tr>")
    out.append("</table>")
    if report["totals"].get("fanout.negative"):
        out.append(f"<p>{report['totals']['fanout.negative']} updates carried a server stamp "
                   "later than their receipt: the server's clock is ahead of this machine's, "
                   "and those delays were counted as 0.</p>")
    for name in ("hold", "fanout", "checkout", "connect"):
        s = report["latency"][name]
        marks = [(label, s[key]) for label, key in (("p50", "p50_ms"), ("p99", "p99_ms"))
                 if key in s]
        out.append(charts.histogram(f"{METRICS[name].split(':')[0].capitalize()} "
                                    "latency distribution", f"h-{name}",
                                    buckets(agg.histograms[name]), marks))
    return out


def _queue(queue: dict[str, Any] | None, agg: Aggregate) -> list[str]:
    if not queue:
        return []
    wait = queue["wait"]
    out = ["<h2>Waiting room</h2>", "<p>" + _e(queue_line(queue)) + "</p>",
           "<table><tr><th>Showtime</th><th>Waits</th><th>Before the opening</th>"
           "<th>Later</th><th>Admitted</th><th>Abandoned</th><th>Still waiting</th>"
           "<th>Spearman &rho; (pre-queue)</th><th>Out of turn (later)</th></tr>"]
    for r in queue["showtimes"]:
        rho = "-" if r["spearman_rho"] is None else f"{r['spearman_rho']}" + (
            f" (fair within ±{r['rho_bound']})" if r["rho_bound"] is not None else "")
        out.append(f"<tr><td>{r['showtime']}</td><td class=\"n\">{r['waits']}</td>"
                   f"<td class=\"n\">{r['before_sale']}</td>"
                   f"<td class=\"n\">{r['later_arrivals']}</td>"
                   f"<td class=\"n\">{r['admitted']}</td><td class=\"n\">{r['abandoned']}</td>"
                   f"<td class=\"n\">{r['still_waiting']}</td><td>{_e(rho)}</td>"
                   f"<td class=\"n\">{r['fifo_violations']}</td></tr>")
    out.append("</table>")
    for s in queue["settings"]:
        how = ("set by this run, " + ("put back" if s["restored"] == "yes"
                                      else _e(s["restored"] or "not put back"))
               if s["set_by_loadgen"] else "as the operator set them")
        out.append(f"<p>Showtime {s['showtime']}: on sale at {_e(s['on_sale_at'])}, "
                   f"{how}.</p>")
    marks = [(label, wait[key]) for label, key in (("p50", "p50_ms"), ("p99", "p99_ms"))
             if key in wait]
    out.append(charts.histogram("Queue wait distribution", "h-queue",
                                buckets(agg.histograms["queue"]), marks))
    return out


def _server(server: dict[str, Any] | None) -> list[str]:
    if server is None:
        return []
    out = ["<h2>The server's own latency, beside the clients'</h2>"]
    if server["pairs"]:
        out.append("<table><tr><th>What</th><th>Server: samples</th><th>p50</th><th>p99</th>"
                   "<th>Clients: p50</th><th>p99</th><th>The server's figure covers</th></tr>")
        for name, row in server["pairs"].items():
            s, c = row["server"], row["client"] or {}
            cells = "".join(
                '<td class="n">-</td>' if v is None else f'<td class="n">{charts.fmt(v)} ms</td>'
                for v in (s.get("p50_ms"), s.get("p99_ms"), c.get("p50_ms"), c.get("p99_ms")))
            out.append(f"<tr><td>{_e(name)}</td><td class=\"n\">{s['count']}</td>{cells}"
                       f"<td>{_e(row['server_covers'])}</td></tr>")
        out.append("</table>")
    out.append(f"<p><small>{_e(server['how'])}; scraped {_e(', '.join(server['urls']))}, "
               f"{server['processes']} server process(es) seen.</small></p>")
    out += [f"<p>{_e(note)}</p>" for note in server["notes"]]
    if not server["pairs"]:
        out.append("<p>No server-side figures: /metrics could not be read (see "
                   "<code>--metrics-url</code>, <code>--metrics-token</code>).</p>")
    return out


def _cpu(cpu: dict[str, Any] | None, rows: list[dict[str, Any]]) -> list[str]:
    if cpu is None:
        return []
    return ["<h2>The load generator itself</h2>", f"<p>{_e(cpu_line(cpu))}.</p>",
            charts.lines("Load generator CPU, share of its cores", "s-cpu",
                         [charts.Line("CPU", [(r["t"], 100 * r["loadgen_cpu_share"])
                                              for r in rows if "loadgen_cpu_share" in r])],
                         "seconds since the start", "percent of the cores")]


def _series(rows: list[dict[str, Any]], key: str, name: str) -> charts.Line:
    return charts.Line(name, [(r["t"], r[key]) for r in rows if key in r])


def _over_time(rows: list[dict[str, Any]]) -> list[str]:
    out = ["<h2>Over time</h2>"]
    out.append(charts.lines("Holds per second", "s-holds",
                            [_series(rows, "holds_ok", "granted"),
                             _series(rows, "holds_refused", "refused")],
                            "seconds since the start", "holds per second"))
    for metric, title in (("hold", "Hold round trip"), ("fanout", "Fan-out delay"),
                          ("checkout", "Checkout time")):
        out.append(charts.lines(f"{title}, per second", f"s-{metric}",
                                [_series(rows, f"{metric}_p50_ms", "p50"),
                                 _series(rows, f"{metric}_p99_ms", "p99")],
                                "seconds since the start", "milliseconds"))
    out.append(charts.lines("Checkouts per second", "s-checkouts",
                            [_series(rows, "checkouts_booked", "booked"),
                             _series(rows, "checkouts_declined", "declined"),
                             _series(rows, "checkouts_failed", "failed")],
                            "seconds since the start", "checkouts per second"))
    out.append(charts.lines("Connected clients", "s-connected",
                            [_series(rows, "connected", "connected")],
                            "seconds since the start", "clients"))
    return out


def _limits(limits: list[dict[str, Any]]) -> list[str]:
    """The server's per-address limits that refused this run, and how to raise them."""
    if not limits:
        return []
    out = ['<h2 class="failed">The server\'s per-address limits refused this run</h2><ul>']
    for limit in limits:
        out.append(f"<li>{_e(limit['count'])} {_e(limit['what'])}: raise "
                   f"<code>{_e(limit['setting'])}</code> on the server for a load test "
                   "(docs/loadgen.md)</li>")
    out.append("</ul>")
    return out


def _errors(errors: dict[str, dict[str, int]]) -> list[str]:
    out = ["<h2>Refusals and errors by code</h2>"]
    if not errors:
        return [*out, "<p>None.</p>"]
    out.append("<table><tr><th>Action</th><th>Code</th><th>Count</th></tr>")
    items = []
    for action, codes in sorted(errors.items()):
        for code, n in sorted(codes.items(), key=lambda x: -x[1]):
            out.append(f"<tr><td>{_e(action)}</td><td><code>{_e(code)}</code></td>"
                       f'<td class="n">{n}</td></tr>')
            items.append((f"{action}: {code}", n))
    out.append("</table>")
    out.append(charts.bars("Refusals and errors by code", "e-codes", items, "count"))
    return out


def _options(report: dict[str, Any]) -> list[str]:
    rows = "".join(f"<tr><td><code>{_e(k)}</code></td><td>{_e(v)}</td></tr>"
                   for k, v in report["options"].items())
    totals = "".join(f'<tr><td><code>{_e(k)}</code></td><td class="n">{v}</td></tr>'
                     for k, v in report["totals"].items())
    showtimes = ", ".join(f"{s['id']} ({s['seats']} seats)" for s in report["showtimes"])
    return ["<h2>Run</h2>", f"<p>Showtimes: {_e(showtimes)}</p>",
            f"<details><summary>Options</summary><table>{rows}</table></details>",
            f"<details><summary>Counters</summary><table>{totals}</table></details>"]
