"""Inline SVG charts for the HTML report: no script, no external file.

Each chart has a title, labelled axes with units and, where it draws more
than one thing, a legend. The palette is Okabe and Ito's, which stays
distinct for the common kinds of colour blindness.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
WIDTH, HEIGHT = 680, 280
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 36, 52


@dataclass(frozen=True, slots=True)
class Line:
    name: str
    points: Sequence[tuple[float, float]]


def nice_ticks(high: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``high``."""
    if high <= 0:
        return [0.0, 1.0]
    raw = high / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    ticks = [0.0]
    while ticks[-1] < high:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def log_ticks(low: float, high: float) -> list[float]:
    """1-2-5 values between ``low`` and ``high``; decades only over a wide span."""
    steps = (1,) if high / low > 1000 else (1, 2, 5)
    decade = math.floor(math.log10(low))
    ticks = []
    while 10 ** decade <= high:
        ticks += [m * 10 ** decade for m in steps if low <= m * 10 ** decade <= high]
        decade += 1
    return ticks


def fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.0f}"
    if abs(value) >= 1:
        return f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def _open(title: str, ident: str, description: str) -> list[str]:
    t = html.escape(title)
    return [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
            f'aria-labelledby="{ident}-t {ident}-d" xmlns="http://www.w3.org/2000/svg">',
            f'<title id="{ident}-t">{t}</title>',
            f'<desc id="{ident}-d">{html.escape(description)}</desc>',
            f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" class="title">{t}</text>']


def _axes(x_label: str, y_label: str) -> list[str]:
    bottom, right = HEIGHT - BOTTOM, WIDTH - RIGHT
    return [f'<line x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" class="axis"/>',
            f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" class="axis"/>',
            f'<text x="{(LEFT + right) / 2}" y="{HEIGHT - 10}" text-anchor="middle" '
            f'class="label">{html.escape(x_label)}</text>',
            f'<text transform="translate(16 {(TOP + bottom) / 2}) rotate(-90)" '
            f'text-anchor="middle" class="label">{html.escape(y_label)}</text>']


def _y_ticks(ticks: list[float], scale: float) -> list[str]:
    out = []
    for tick in ticks:
        y = HEIGHT - BOTTOM - tick * scale
        out.append(f'<line x1="{LEFT - 4}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
                   'class="grid"/>')
        out.append(f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end" '
                   f'class="tick">{fmt(tick)}</text>')
    return out


def _legend(names: Sequence[str]) -> list[str]:
    out = []
    x = LEFT + 10
    for i, name in enumerate(names):
        colour = COLOURS[i % len(COLOURS)]
        out.append(f'<rect x="{x}" y="{TOP - 2}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{x + 16}" y="{TOP + 8}" class="tick">{html.escape(name)}</text>')
        x += 24 + 7 * len(name)
    return out


def empty(title: str, ident: str, why: str) -> str:
    parts = _open(title, ident, why)
    parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" '
                 f'class="label">{html.escape(why)}</text></svg>')
    return "".join(parts)


def histogram(title: str, ident: str, bins: Sequence[tuple[float, float, int]],
              marks: Sequence[tuple[str, float]]) -> str:
    """Counts per log-spaced latency bin (ms), with percentile markers."""
    if not bins:
        return empty(title, ident, "no samples")
    low, high = bins[0][0], bins[-1][1]
    span = math.log10(high) - math.log10(low)
    width = WIDTH - LEFT - RIGHT

    def x(ms: float) -> float:
        return LEFT + (math.log10(max(ms, low)) - math.log10(low)) / span * width

    peak = max(n for _, _, n in bins)
    ticks = nice_ticks(peak)
    scale = (HEIGHT - TOP - BOTTOM - 14) / ticks[-1]
    total = sum(n for _, _, n in bins)
    parts = _open(title, ident, f"{total} samples from {fmt(low)} to {fmt(high)} ms, "
                  + ", ".join(f"{name} {fmt(v)} ms" for name, v in marks))
    parts += _y_ticks(ticks, scale)
    for lo, hi, n in bins:
        if n:
            h = n * scale
            parts.append(f'<rect x="{x(lo):.1f}" y="{HEIGHT - BOTTOM - h:.1f}" '
                         f'width="{max(1.0, x(hi) - x(lo) - 1):.1f}" height="{h:.1f}" '
                         f'fill="{COLOURS[0]}"><title>{fmt(lo)} to {fmt(hi)} ms: {n}'
                         '</title></rect>')
    for value in log_ticks(low, high):
        parts.append(f'<line x1="{x(value):.1f}" y1="{HEIGHT - BOTTOM}" x2="{x(value):.1f}" '
                     f'y2="{HEIGHT - BOTTOM + 5}" class="axis"/>')
        parts.append(f'<text x="{x(value):.1f}" y="{HEIGHT - BOTTOM + 18}" '
                     f'text-anchor="middle" class="tick">{fmt(value)}</text>')
    for i, (_, value) in enumerate(marks):
        colour = COLOURS[(i + 1) % len(COLOURS)]
        parts.append(f'<line x1="{x(value):.1f}" y1="{TOP + 14}" x2="{x(value):.1f}" '
                     f'y2="{HEIGHT - BOTTOM}" stroke="{colour}" stroke-width="2" '
                     'stroke-dasharray="5 3"/>')
    parts += _legend(["samples", *(f"{name} = {fmt(v)} ms" for name, v in marks)])
    parts += _axes("latency, milliseconds (log scale)", "samples")
    parts.append("</svg>")
    return "".join(parts)


def lines(title: str, ident: str, series: Sequence[Line], x_label: str, y_label: str) -> str:
    """Values over the run's seconds, one line per series."""
    drawn = [s for s in series if s.points]
    if not drawn:
        return empty(title, ident, "no data")
    x_high = max(max(p[0] for p in s.points) for s in drawn) or 1.0
    y_high = max(max(p[1] for p in s.points) for s in drawn)
    x_ticks, y_ticks = nice_ticks(x_high, 8), nice_ticks(y_high)
    x_scale = (WIDTH - LEFT - RIGHT) / x_ticks[-1]
    y_scale = (HEIGHT - TOP - BOTTOM - 14) / y_ticks[-1]
    parts = _open(title, ident, "; ".join(
        f"{s.name}: peak {fmt(max(p[1] for p in s.points))}" for s in drawn))
    parts += _y_ticks(y_ticks, y_scale)
    for tick in x_ticks:
        x = LEFT + tick * x_scale
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle" '
                     f'class="tick">{fmt(tick)}</text>')
    for i, s in enumerate(series):
        if not s.points:
            continue
        colour = COLOURS[i % len(COLOURS)]
        coords = " ".join(f"{LEFT + t * x_scale:.1f},{HEIGHT - BOTTOM - v * y_scale:.1f}"
                          for t, v in s.points)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" '
                     'stroke-width="2" stroke-linejoin="round"/>')
        if len(s.points) == 1:
            (t, v), = s.points
            parts.append(f'<circle cx="{LEFT + t * x_scale:.1f}" '
                         f'cy="{HEIGHT - BOTTOM - v * y_scale:.1f}" r="3" fill="{colour}"/>')
    parts += _legend([s.name for s in series])
    parts += _axes(x_label, y_label)
    parts.append("</svg>")
    return "".join(parts)


def bars(title: str, ident: str, items: Sequence[tuple[str, int]], x_label: str) -> str:
    """Horizontal bars, one per label (errors by code)."""
    if not items:
        return empty(title, ident, "none")
    row = 22
    height = TOP + 20 + row * len(items) + 40
    label_width = 16 + 7 * max(len(label) for label, _ in items)
    peak = max(n for _, n in items)
    ticks = nice_ticks(peak)
    scale = (WIDTH - label_width - RIGHT) / ticks[-1]
    t = html.escape(title)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
             f'aria-labelledby="{ident}-t" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="{ident}-t">{t}</title>',
             f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" class="title">{t}</text>']
    for i, (label, n) in enumerate(items):
        y = TOP + 10 + i * row
        parts.append(f'<text x="{label_width - 8}" y="{y + 14}" text-anchor="end" '
                     f'class="tick">{html.escape(label)}</text>')
        parts.append(f'<rect x="{label_width}" y="{y + 2}" width="{max(1.0, n * scale):.1f}" '
                     f'height="{row - 6}" fill="{COLOURS[1]}"/>')
        parts.append(f'<text x="{label_width + n * scale + 4:.1f}" y="{y + 14}" '
                     f'class="tick">{n}</text>')
    base = TOP + 10 + row * len(items)
    for tick in ticks:
        x = label_width + tick * scale
        parts.append(f'<text x="{x:.1f}" y="{base + 16}" text-anchor="middle" '
                     f'class="tick">{fmt(tick)}</text>')
    parts.append(f'<line x1="{label_width}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" '
                 'class="axis"/>')
    parts.append(f'<text x="{(label_width + WIDTH - RIGHT) / 2}" y="{base + 34}" '
                 f'text-anchor="middle" class="label">{html.escape(x_label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
