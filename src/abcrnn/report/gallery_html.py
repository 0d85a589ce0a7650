"""The HTML of the gallery (gallery.py gathers what it shows): the index, one page per sample set,
and the comparison page. Plain HTML and CSS: no scripts, nothing from the internet."""

from __future__ import annotations

from html import escape
from urllib.parse import quote

STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1400px; padding: 1em 2em; color: #222; }
nav { margin: 0.5em 0 1.5em; } nav a { margin-right: 1em; }
h1 { margin-bottom: 0.2em; } .lead { color: #555; max-width: 60em; }
.notice { background: #fff4d6; border-left: 4px solid #e0a800; padding: 0.5em 1em; margin: 0.5em 0; }
table.summary { border-collapse: collapse; margin: 1em 0; }
table.summary th, table.summary td { border-bottom: 1px solid #ddd; padding: 0.3em 0.8em; text-align: right; }
table.summary th:first-child, table.summary td:first-child { text-align: left; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 1.2em; }
.card { border: 1px solid #ccc; border-radius: 6px; padding: 0.8em 1em; background: #fafafa; min-width: 0; }
.card.real { background: #eef5ee; border-color: #9c9; }
.card h3 { margin: 0 0 0.2em; } .caption { color: #666; font-size: 0.9em; margin: 0 0 0.5em; }
.score { background: white; border: 1px solid #e4e4e4; margin: 0.4em 0; }
.score img { display: block; width: 100%; height: auto; }
audio { width: 100%; margin: 0.3em 0; }
pre { background: white; border: 1px solid #e4e4e4; padding: 0.5em; overflow-x: auto; font-size: 0.85em;
      margin: 0.3em 0; }
details summary { cursor: pointer; color: #246; margin: 0.3em 0; }
table.metrics { font-size: 0.9em; border-collapse: collapse; }
table.metrics td { padding: 0.1em 0.8em 0.1em 0; vertical-align: top; } table.metrics td:first-child { color: #555; }
.missing { color: #a33; font-size: 0.9em; }
.row { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 1em; margin-bottom: 2em; }
"""


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<link rel="icon" href="data:,">\n<title>{escape(title)}</title>\n'
            f'<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n')


def _href(path: str) -> str:
    return escape(quote(path), quote=True)


def _nav(pages) -> str:
    links = ['<a href="index.html">overview</a>', '<a href="compare.html">beside the real tunes</a>']
    links += [f'<a href="{_href(p.page)}">{escape(_set_name(p, pages))}</a>' for p in pages]
    return "<nav>" + " ".join(links) + "</nav>"


def _set_name(page, pages) -> str:
    """'T = 0.5', with the run's name where the gallery shows several runs."""
    return f"{page.run} {page.name}" if page.run and len({p.run for p in pages}) > 1 else page.name


def _runs(pages) -> str:
    runs = list(dict.fromkeys(p.run for p in pages if p.run))
    return f"Run{'s' if len(runs) > 1 else ''}: {', '.join(runs)}. " if runs else ""


def card_html(card, real: bool = False, link_primer: bool = True) -> str:
    parts = [f'<div class="card{" real" if real else ""}" id="{escape(card.anchor, quote=True)}">',
             f"<h3>{escape(card.title)}</h3>", f'<p class="caption">{escape(card.caption)}</p>']
    if card.scores:  # abcm2ps writes a long tune as several pages: one block, page after page
        parts.append('<div class="score">' + "".join(
            f'<img src="{_href(s)}" alt="score of {escape(card.title, quote=True)}, page {k}">'
            for k, s in enumerate(card.scores, 1)) + "</div>")
    else:
        parts.append('<p class="missing">no score (abcm2ps could not typeset this tune)</p>')
    if card.audio:
        parts.append(f'<audio controls preload="metadata" src="{_href(card.audio)}"></audio>')
    elif card.midi:
        parts.append('<p class="missing">no audio (see the overview page)</p>')
    if card.midi:
        parts.append(f'<p><a href="{_href(card.midi)}" download>download MIDI</a></p>')
    else:
        parts.append('<p class="missing">no MIDI file (abc2midi wrote none)</p>')
    if card.metrics:
        rows = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in card.metrics)
        parts.append(f'<table class="metrics">{rows}</table>')
    if link_primer and card.primer and not real:
        parts.append(f'<p><a href="compare.html#tune-{card.primer}">beside the real tune whose header primed it'
                     "</a></p>")
    parts.append(f"<details open><summary>header</summary><pre>{escape(card.header)}</pre></details>")
    parts.append(f"<details><summary>ABC text</summary><pre>{escape(card.text)}</pre></details>")
    parts.append("</div>")
    return "\n".join(parts)


VALID = "valid (abc2midi without errors)"  # the metric gallery.metrics names so
SUMMARY = [("tunes", "tunes", "{:.0f}"), ("distribution", "distribution overlap", "{:.2f}"),
           ("two_part", "two-part form", "{:.0%}"), ("ends_on_tonic", "ends on tonic", "{:.0%}"),
           ("nearest_similarity", "similarity to nearest training tune", "{:.2f}"),
           ("copies", "copies", "{:.0%}"), ("similarity_within", "similarity within the set", "{:.3f}")]


def _summary_table(pages, summary: list[dict]) -> str:
    links = {(p.run, p.label, p.directory): p.page for p in pages}
    head = "<tr><th>set</th>" + "".join(f"<th>{escape(name)}</th>" for _, name, _ in SUMMARY) + "</tr>"
    rows = []
    for row in summary:
        name = row["temperature"] if row.get("role") != "samples" else (
            ("argmax" if row["temperature"] == "argmax" else f"T = {row['temperature']}")
            + (f" ({row['run']})" if row.get("run") and len({p.run for p in pages}) > 1 else ""))
        page = links.get((row.get("run", ""), row["temperature"], row.get("samples", "")))
        cell = f'<a href="{_href(page)}">{escape(name)}</a>' if page else escape(name)
        values = []
        for column, _, fmt in SUMMARY:
            try:
                values.append(fmt.format(float(row.get(column, ""))))
            except ValueError:
                values.append("–")
        rows.append(f"<tr><td>{cell}</td>" + "".join(f"<td>{escape(v)}</td>" for v in values) + "</tr>")
    return f'<table class="summary">{head}{"".join(rows)}</table>'


def index_page(pages, summary: list[dict], notices: list[str]) -> str:
    body = ["<h1>abcrnn: generated tunes</h1>",
            '<p class="lead">Every tune the model wrote, per run and sampling temperature: its score, a recording '
            "(General MIDI, through fluidsynth), the MIDI file, the ABC text and its measures. "
            "<a href=\"compare.html\">Beside the real tunes</a> shows each generated tune next to the real "
            f"test-set tune whose header it was given to continue. {escape(_runs(pages))}</p>", _nav(pages)]
    body += [f'<p class="notice">{escape(n)}</p>' for n in notices]
    if summary:
        body.append("<h2>Measures per set</h2>")
        body.append('<p class="lead">From results/tables/quality.tsv: <em>test-set</em> is the real test tunes '
                    "(measured against the training tunes), <em>shuffled</em> the same tunes with the characters "
                    "of their music shuffled. Distribution overlap: 1 = the notes behave like the real tunes'.</p>")
        body.append(_summary_table(pages, summary))
    body.append("<h2>Sample sets</h2><ul>")
    for p in pages:
        valid = sum(1 for c in p.cards if dict(c.metrics).get(VALID, "").startswith("yes"))
        body.append(f'<li><a href="{_href(p.page)}">{escape(_set_name(p, pages))}</a>: {len(p.cards)} tunes, {valid} '
                    f"rendered by abc2midi without errors (from {escape(p.directory)})</li>")
    body.append("</ul>")
    return _page("abcrnn gallery", "\n".join(body))


def set_page(page, pages, real) -> str:
    body = [f"<h1>{escape(_set_name(page, pages))}</h1>", _nav(pages),
            f'<p class="lead">{escape(_runs([page]))}{len(page.cards)} tunes from {escape(page.directory)}.</p>',
            '<div class="cards">', *[card_html(c) for c in page.cards], "</div>"]
    return _page(f"abcrnn gallery: {_set_name(page, pages)}", "\n".join(body))


def compare_page(pages, real) -> str:
    body = ["<h1>Generated tunes beside the real ones</h1>", _nav(pages),
            '<p class="lead">Each row: a real test-set tune (green; the model never trained on it) and every tune '
            "the model wrote after being given that tune's header (X: … K:), at each temperature.</p>"]
    by_primer: dict[int, list] = {}
    unprimed = []
    for page in pages:
        for card in page.cards:
            (by_primer.setdefault(card.primer, []) if card.primer else unprimed).append(card)
    for number in sorted(by_primer):
        body.append(f'<h2 id="tune-{number}">{escape(real[number].title)}</h2><div class="row">')
        body.append(card_html(real[number], real=True))
        body += [card_html(c, link_primer=False) for c in by_primer[number]]
        body.append("</div>")
    if unprimed:
        body.append("<h2>Not primed by a test-set tune</h2><div class=\"row\">")
        body += [card_html(c) for c in unprimed]
        body.append("</div>")
    return _page("abcrnn gallery: beside the real tunes", "\n".join(body))
