"""Server-rendered SVG charts for the pool statistics page: no JavaScript, no CDN, works offline."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

#: Colours that stay apart for colour-blind readers (Okabe–Ito).
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999"]
STAGE_COLOURS = {"cold": "#56B4E9", "warm": "#F0E442", "hot": "#E69F00", "burning": "#D55E00"}


def _nice_max(value: float) -> float:
    """Round an axis maximum up to 1, 2 or 5 × 10ⁿ so gridlines land on readable numbers."""
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _fmt(value: float) -> str:
    return f"{value:,.0f}".replace(",", ".") if float(value).is_integer() else f"{value:.1f}".replace(".", ",")


def stacked_bars(
    labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]], *, title: str, height: int = 220
) -> SafeString:
    """Vertical bars per label (day), stacked by series (channel), with a legend."""
    width, left, bottom, top = 760, 44, 40, 12
    n = max(len(labels), 1)
    totals = [sum(values[i] for _name, values in series) for i in range(len(labels))]
    y_max = _nice_max(max(totals, default=0))
    plot_h = height - bottom - top
    step = (width - left - 8) / n
    bar_w = max(step * 0.75, 1)
    parts = [
        f'<svg class="lp-chart" viewBox="0 0 {width} {height + 24 * ((len(series) + 4) // 5)}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i in range(5):
        y = top + plot_h * i / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 8}" y2="{y:.1f}" class="lp-grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" class="lp-axis" text-anchor="end">')
        parts.append(f"{_fmt(y_max * (4 - i) / 4)}</text>")
    label_every = max(1, n // 12)
    for i, label in enumerate(labels):
        x = left + i * step + (step - bar_w) / 2
        y = top + plot_h
        for s, (name, values) in enumerate(series):
            value = values[i]
            if not value:
                continue
            h = plot_h * value / y_max
            y -= h
            colour = PALETTE[s % len(PALETTE)]
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{escape(label)} · {escape(name)}: {_fmt(value)}</title></rect>"
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 16}" class="lp-axis" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    for s, (name, values) in enumerate(series):
        lx, ly = left + (s % 5) * 140, height + 24 * (s // 5)
        parts.append(f'<rect x="{lx}" y="{ly - 10}" width="12" height="12" fill="{PALETTE[s % len(PALETTE)]}"/>')
        parts.append(f'<text x="{lx + 18}" y="{ly}" class="lp-legend">{escape(name)} ({_fmt(sum(values))})</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  (every label is escaped above)


def horizontal_bars(
    rows: Sequence[tuple[str, float]],
    *,
    title: str,
    colours: Sequence[str] | None = None,
    suffix: str = "",
    x_max: float | None = None,
) -> SafeString:
    """One labelled horizontal bar per row, the value written at its end."""
    width, label_w, row_h = 760, 190, 26
    height = row_h * max(len(rows), 1) + 8
    top_value = x_max or _nice_max(max((v for _l, v in rows), default=0))
    plot_w = width - label_w - 70
    parts = [
        f'<svg class="lp-chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i, (label, value) in enumerate(rows):
        y = 4 + i * row_h
        w = plot_w * (value or 0) / top_value if top_value else 0
        colour = colours[i % len(colours)] if colours else PALETTE[0]
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 17}" class="lp-axis" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{max(w, 0):.1f}" height="{row_h - 8}" fill="{colour}">'
            f"<title>{escape(label)}: {_fmt(value or 0)}{escape(suffix)}</title></rect>"
            f'<text x="{label_w + w + 6:.1f}" y="{y + 17}" class="lp-value">{_fmt(value or 0)}{escape(suffix)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  (every label is escaped above)
