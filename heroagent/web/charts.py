"""Charts drawn on the server as SVG (no JavaScript, nothing inline that the CSP would block).

Colours come from CSS classes in style.css, which the page's stylesheet applies to inline SVG.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from heroagent.jobs.history.stats import BUCKET_SECONDS, ThroughputBucket
from heroagent.web.present import when

WIDTH, HEIGHT, TOP, BOTTOM = 1200, 150, 4, 1


def throughput_svg(buckets: list[ThroughputBucket]) -> Markup:
    """Stacked bars per bucket: done, error, canceled; hover shows each bar's counts. The SVG holds only the
    bars and stretches to its box (preserveAspectRatio none); the peak and the time axis are HTML text
    around it, so they stay readable at any width (a phone's 390 px shrinks no label)."""
    peak = max((b.total for b in buckets), default=0)
    scale = (HEIGHT - TOP - BOTTOM) / peak if peak else 0.0
    slot = WIDTH / max(1, len(buckets))
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="none" role="img" '
        f'aria-label="jobs finished per {BUCKET_SECONDS} seconds over the last {len(buckets) * BUCKET_SECONDS // 60} '
        f'minutes">',
        f'<line class="axis" x1="0" y1="{HEIGHT - BOTTOM}" x2="{WIDTH}" y2="{HEIGHT - BOTTOM}"/>',
    ]
    for i, bucket in enumerate(buckets):
        x = i * slot + 1
        y = float(HEIGHT - BOTTOM)
        title = escape(f"{when(bucket.start)}: {bucket.done} done, {bucket.error} error, {bucket.canceled} canceled")
        parts.append(f"<g><title>{title}</title>")
        for count, css in ((bucket.done, "bar-done"), (bucket.error, "bar-error"), (bucket.canceled, "bar-canceled")):
            if count:
                h = max(1.0, count * scale)
                y -= h
                parts.append(f'<rect class="{css}" x="{x:.1f}" y="{y:.1f}" width="{slot - 2:.1f}" height="{h:.1f}"/>')
        parts.append("</g>")
    minutes = len(buckets) * BUCKET_SECONDS // 60
    parts.append("</svg>")
    per_second = peak / BUCKET_SECONDS
    peak_line = f'<p class="chart-peak">peak {peak} per {BUCKET_SECONDS} s ({per_second:.1f}/s)</p>'
    axis = f'<p class="chart-axis"><span>{minutes} min ago</span><span>now</span></p>'
    return Markup(f'<figure class="chart-box">{peak_line}{"".join(parts)}{axis}</figure>')


def utilisation_svg(samples: list[tuple[float, float | None]]) -> Markup:
    """Busy worker slots / slots per bucket (every pool's, sampled every few seconds): a bar per bucket, 0
    to 100 %, gaps where no pool reported; the latest value as text, readable at any width."""
    slot = WIDTH / max(1, len(samples))
    usable = float(HEIGHT - TOP - BOTTOM)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="none" role="img" '
        f'aria-label="share of worker slots busy per {BUCKET_SECONDS} seconds">',
        f'<line class="axis" x1="0" y1="{HEIGHT - BOTTOM}" x2="{WIDTH}" y2="{HEIGHT - BOTTOM}"/>',
    ]
    for i, (start, share) in enumerate(samples):
        if share is None:
            continue
        h = max(1.0, share * usable)
        title = escape(f"{when(start)}: {share:.0%} of the slots busy")
        parts.append(
            f'<g><title>{title}</title><rect class="bar-busy" x="{i * slot + 1:.1f}" '
            f'y="{HEIGHT - BOTTOM - h:.1f}" width="{slot - 2:.1f}" height="{h:.1f}"/></g>'
        )
    parts.append("</svg>")
    latest = next((share for _, share in reversed(samples) if share is not None), None)
    now_line = (
        f'<p class="chart-peak" id="utilisation-now">now {latest:.0%} busy</p>'
        if latest is not None
        else ('<p class="chart-peak" id="utilisation-now">no pool has reported yet</p>')
    )
    minutes = len(samples) * BUCKET_SECONDS // 60
    axis = f'<p class="chart-axis"><span>{minutes} min ago</span><span>now</span></p>'
    return Markup(f'<figure class="chart-box">{now_line}{"".join(parts)}{axis}</figure>')
