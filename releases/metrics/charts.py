"""Server-rendered SVG charts: readable without JavaScript, with a title and a description for screen
readers (the page shows the same numbers as a table). Pure: numbers in, markup out, every text escaped."""

from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 1000, 240, 36, 28, 12


@dataclass(frozen=True)
class Bar:
    label: str  # under the bar
    values: tuple[int, ...]  # stacked, bottom first
    title: str  # the tooltip and accessible name of the bar


def stacked_bars(
    bars: list[Bar], *, title: str, description: str, classes: tuple[str, ...], chart_id: str = "chart"
) -> SafeString:
    """A stacked bar chart; `classes` name each stack's CSS class, bottom first; `chart_id` keeps the
    ids of two charts on one page apart."""
    top = max((sum(bar.values) for bar in bars), default=0) or 1
    plot_w, plot_h = WIDTH - LEFT, HEIGHT - BOTTOM - TOP
    step = plot_w / max(len(bars), 1)
    parts = []
    for n, bar in enumerate(bars):
        x, base = LEFT + n * step + step * 0.15, HEIGHT - BOTTOM
        for value, css in zip(bar.values, classes, strict=True):
            height = plot_h * value / top
            if height:
                parts.append(
                    format_html(
                        '<rect class="{}" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>',
                        css,
                        _n(x),
                        _n(base - height),
                        _n(step * 0.7),
                        _n(height),
                        bar.title,
                    )
                )
            base -= height
        if len(bars) <= 16 or n % 2 == 0:
            parts.append(
                format_html(
                    '<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>',
                    _n(x + step * 0.35),
                    HEIGHT - 10,
                    bar.label,
                )
            )
    axis = format_html(
        '<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>'
        '<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"/>',
        LEFT - 6,
        TOP + 8,
        top,
        LEFT,
        HEIGHT - BOTTOM,
        WIDTH,
        HEIGHT - BOTTOM,
    )
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-labelledby="{}-title {}-desc">'
        '<title id="{}-title">{}</title><desc id="{}-desc">{}</desc>{}{}</svg>',
        WIDTH,
        HEIGHT,
        chart_id,
        chart_id,
        chart_id,
        title,
        chart_id,
        description,
        axis,
        format_html_join("", "{}", ((part,) for part in parts)),
    )


def _n(value: float) -> str:
    return f"{value:.1f}"
