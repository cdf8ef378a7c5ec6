"""Charts drawn on the server as inline SVG: no JavaScript, nothing fetched by the browser.

Each bar carries a `<title>`, which the browser shows on hover and a screen reader reads.
"""

import math
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 8, 12, 28
ROW_HEIGHT, LABEL_WIDTH = 26, 160


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float]
    color: str


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above `value`: the top of a readable axis."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return next(step * magnitude for step in (1, 2, 2.5, 5, 10) if step * magnitude >= value)


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def column_chart(*, title: str, labels: list[str], series: list[Series], unit: str) -> SafeString:
    """Columns per label (a day), side by side when there are several series, on a labelled y axis."""
    top = nice_ceiling(max((value for one in series for value in one.values), default=0))
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(labels), 1)
    bar_width = max(slot * 0.8 / len(series), 1)
    grid = format_html_join("", (
        '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<text class="axis" x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}</text>'
    ), ((LEFT, WIDTH - RIGHT, y, y, LEFT - 6, y, _number(top * share))
        for share, y in ((share, f"{TOP + plot_height * (1 - share):.1f}") for share in (0, 0.5, 1))))
    bars = []
    for index, label in enumerate(labels):
        for offset, one in enumerate(series):
            value = one.values[index]
            height = plot_height * value / top
            x = LEFT + slot * index + slot * 0.1 + bar_width * offset
            bars.append(format_html(
                '<rect class="bar" x="{}" y="{}" width="{}" height="{}" fill="{}">'
                '<title>{}: {} {}{}</title></rect>',
                f"{x:.1f}", f"{TOP + plot_height - height:.1f}", f"{bar_width:.1f}", f"{height:.1f}", one.color,
                label, _number(value), unit, f" {one.name}" if len(series) > 1 else ""))
    # A label under the last column and every fifth before it keeps 30 days legible.
    ticks = format_html_join("", '<text class="axis" x="{}" y="{}" text-anchor="middle">{}</text>', (
        (f"{LEFT + slot * (index + 0.5):.1f}", HEIGHT - 8, label)
        for index, label in enumerate(labels) if (len(labels) - 1 - index) % 5 == 0))
    legend = format_html_join(" ", '<span class="legend"><i style="background:{}"></i>{}</span>',
                              ((one.color, one.name) for one in series)) if len(series) > 1 else ""
    return format_html(
        '<figure class="chart"><figcaption>{} {}</figcaption>'
        '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="{}">{}{}{}</svg></figure>',
        title, legend, WIDTH, HEIGHT, title, grid, mark_safe("".join(bars)), ticks)


def bar_chart(*, title: str, items: list[tuple[str, float, str]], empty: str) -> SafeString:
    """Horizontal bars of shares (0–1) with their percentage; each item is (label, share, hover text)."""
    if not items:
        return format_html('<figure class="chart"><figcaption>{}</figcaption><p class="empty">{}</p></figure>',
                           title, empty)
    height = ROW_HEIGHT * len(items) + 4
    plot_width = WIDTH - LABEL_WIDTH - 64
    rows = format_html_join("", (
        '<text class="axis" x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}</text>'
        '<rect class="bar" x="{}" y="{}" width="{}" height="{}" fill="#447e9b"><title>{}</title></rect>'
        '<text class="value" x="{}" y="{}" dominant-baseline="middle">{}</text>'
    ), (
        (LABEL_WIDTH - 8, ROW_HEIGHT * index + ROW_HEIGHT / 2 + 2, label,
         LABEL_WIDTH, ROW_HEIGHT * index + 5, f"{max(plot_width * share, 1):.1f}", ROW_HEIGHT - 8, hover,
         f"{LABEL_WIDTH + max(plot_width * share, 1) + 6:.1f}", ROW_HEIGHT * index + ROW_HEIGHT / 2 + 2,
         f"{share:.1%}")
        for index, (label, share, hover) in enumerate(items)))
    return format_html(
        '<figure class="chart"><figcaption>{}</figcaption>'
        '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="{}">{}</svg></figure>',
        title, WIDTH, height, title, rows)
