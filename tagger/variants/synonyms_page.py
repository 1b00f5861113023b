"""synonyms.html: one self-contained page of the proposed variant groups, the exportable report.

It shows what review.py's page shows, with the same evidence names and legend (tagger.variants.legend) and
the same thumbnails, sampled over the range of each tag's images (tagger.variants.samples), images carrying
both tags of a pair marked; deciding happens in review.py or in review.csv.
"""

import base64
import html
import io
from pathlib import Path

from PIL import Image

from tagger import runfolder
from tagger.images import load_image
from tagger.logs import counted
from tagger.tagtext import visible
from tagger.variants.legend import (
    BOTH_LEGEND, IMAGES_LEGEND, PROBE_LEGEND, SPELLED_LEGEND, cut, evidence_legend, measures_probe, measures_spelled,
    measures_text,
)
from tagger.variants.samples import pair_sample

THUMBNAIL_SIZE = 96
FLAG_LEGEND = ("why to look twice: a merge carried by spelling alone, or a member whose own pair with the canonical "
               "is a near miss (it joined the group through another member)")

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
.group{border:1px solid #ccc;border-radius:6px;padding:0.8em 1em;margin:1em 0;overflow-x:auto}
.group h2{margin:0 0 0.4em 0;font-size:1.1em}
table{border-collapse:collapse;width:100%}td,th{padding:0.25em 0.5em;text-align:left;vertical-align:middle}
th{font-weight:600;border-bottom:1px solid #ddd}th[title]{cursor:help}.canonical{font-weight:700}
tr.examples td{padding-bottom:0.7em;border-bottom:1px solid #eee}.thumb{display:inline-block;position:relative;margin:0 4px 4px 0;border:2px solid transparent;border-radius:4px;vertical-align:middle}
.thumb.both{border-color:#e08a00}.thumb img{display:block;border-radius:2px}
.thumb.both::after{content:"both";position:absolute;left:2px;bottom:2px;font-size:10px;padding:0 3px;
border-radius:3px;background:#e08a00;color:#fff}
.side{display:inline-block;margin-right:1.2em}.who{font-weight:600;margin-right:0.3em}
.note{color:#666;font-size:0.9em}dl{display:grid;grid-template-columns:max-content 1fr;gap:0.1em 1em}
dt{font-weight:600}dd{margin:0}
@media (max-width:600px){body{margin:0.8em}.group{padding:0.5em}td,th{padding:0.2em 0.3em}.thumb img{width:64px;height:64px}}
"""


def thumbnail(path: str) -> str | None:
    """A small inline JPEG of the image, or None when it cannot be read any more."""
    try:
        pixels = load_image(path, THUMBNAIL_SIZE)
    except Exception:
        return None
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def images_of_tags(manifest: runfolder.Manifest, tags: set[str]) -> dict[str, list[int]]:
    """Manifest indices of the images carrying each of tags."""
    found: dict[str, list[int]] = {tag: [] for tag in tags}
    for index, image_tags in enumerate(manifest.tags):
        for tag in image_tags:
            if tag in found:
                found[tag].append(index)
    return found


def legend_html(legend: dict[str, str]) -> str:
    escape = html.escape
    lines = list(legend.items())
    lines += [tuple(line.split(": ", 1)) for line in (IMAGES_LEGEND, BOTH_LEGEND)]
    return "<dl>" + "".join(f"<dt>{escape(name)}</dt><dd>{escape(text)}</dd>" for name, text in lines) + "</dl>"


def evidence_cells(group, index: int, names, answers=None) -> list[str]:
    """The member's evidence against the canonical, in the order of names ('' where not measured); answers: the
    group's probe_answers (None: no probe)."""
    if index == 0:
        return [""] * len(names)
    values = {"score": group.scores[index] if group.scores else None, "visual": group.similarities[index],
              "confidence": group.confidences[index] if getattr(group, "confidences", None) else None}
    for name in names:
        if name in PROBE_LEGEND:  # words, not a number
            values[name] = answers[index] if answers is not None else None
            continue
        if name in SPELLED_LEGEND:
            values[name] = (group.spelling_links() or [None] * len(group.members))[index]
            continue
        if name in values:
            continue
        measured = group.evidence is not None and getattr(group.evidence, name) is not None
        values[name] = float(getattr(group.evidence, name)[index]) if measured else None
    return [cell_text(values[name]) for name in names]


def cell_text(value) -> str:
    """A piece of evidence as a table cell: a number to 2 decimals (cut), words as they are, '' where not measured."""
    if value is None or value != value:
        return ""
    return value if isinstance(value, str) else cut(value)


def pictures_html(manifest, sample) -> str:
    def escape(text, quote=True):
        return html.escape(visible(text), quote=quote)
    parts = []
    for index, both in sample:
        uri = thumbnail(manifest.paths[index])
        if uri is None:
            continue
        label = escape(manifest.image_ids[index] + (" (carries both tags)" if both else ""), quote=True)
        parts.append(f"<span class='thumb{' both' if both else ''}'><img src='{uri}' width='{THUMBNAIL_SIZE}' "
                     f"height='{THUMBNAIL_SIZE}' alt='{label}' title='{label}'></span>")
    return "".join(parts)


def write_synonyms_page(run_dir: Path, groups, manifest: runfolder.Manifest, method: str, per_tag: int = 6,
                        embeddings=None, near_misses=(), rare_images=None) -> None:
    """Write synonyms.html: the groups most confident first, evidence with its legend, sampled thumbnails; then the
    near misses (listed, not merged: CombinedVariants.near_misses_), so recall can be reviewed from the report too.
    rare_images: tags the manifest does not carry (rare spellings, tagger.variants.rare) -> their manifest rows."""
    def escape(text, quote=True):  # invisible and reordering characters shown as <U+XXXX>: data files keep them
        return html.escape(visible(text), quote=quote)
    legend = evidence_legend(measures_text(groups, near_misses))  # the text column only with cluster.text_evidence
    if measures_probe(groups, near_misses):
        legend = {**legend, **PROBE_LEGEND}  # what the separability probe found, where it was on
    if measures_spelled(groups, near_misses):
        legend = {**legend, **SPELLED_LEGEND}  # the spelling links in words, where the method weighs spelling
    members = {tag for group in groups for tag in group.members}
    members |= {miss[side] for miss in near_misses for side in ("canonical", "variant")}
    tag_images = {**images_of_tags(manifest, members), **(rare_images or {})}
    parts = [f"<!doctype html><html><head><meta charset='utf-8'>"
             f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>Tag variants</title>"
             f"<style>{STYLE}</style></head><body>",
             f"<h1>Proposed tag variants ({counted(len(groups), 'group')}, method {escape(method)})</h1>",
             f"<p class='note'>Most confident first. Decide with review.py (the same groups among their images), "
             f"or in {escape(runfolder.REVIEW)} (decision: accept or reject), then run apply_review.py to write "
             f"{escape(runfolder.ALIASES)}.</p>", legend_html(legend)]
    header = "".join(f"<th title='{escape(text, quote=True)}'>{escape(name)}</th>" for name, text in legend.items())
    for number, group in enumerate(groups, start=1):
        parts.append(f"<div class='group'><h2>{number}. {escape(group.canonical)}</h2><table>"
                     f"<tr><th>tag</th><th title='{escape(IMAGES_LEGEND, quote=True)}'>images</th>{header}"
                     f"<th title='{escape(FLAG_LEGEND, quote=True)}'>flag</th></tr>")
        answers = group.evidence.probe_answers() if group.evidence is not None else None
        canonical_images = tag_images.get(group.canonical, [])
        variant_images = set().union(*(tag_images.get(tag, []) for tag in group.members[1:]))
        for index, tag in enumerate(group.members):
            others = variant_images if index == 0 else canonical_images
            sample = pair_sample(tag_images.get(tag, []), others, per_tag, embeddings)
            name = f"<span class='canonical'>{escape(tag)}</span> (canonical)" if index == 0 else escape(tag)
            flag = escape(group.flags[index]) if getattr(group, "flags", None) else ""
            cells = [name, str(group.counts[index]), *evidence_cells(group, index, tuple(legend), answers), flag]
            parts.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
            # The examples on a row of their own under the tag's evidence: one line of thumbnails at any width, where a
            # column beside the numbers wrapped them into a tall block.
            pictures = pictures_html(manifest, sample)
            if pictures:
                parts.append(f"<tr class='examples'><td></td><td class='thumbs' colspan='{len(cells) - 1}'>"
                             f"{pictures}</td></tr>")
        parts.append("</table></div>")
    if not groups:
        parts.append("<p>No variant groups were found.</p>")
    if near_misses:
        examples = [near_miss_pictures(manifest, tag_images, miss, max(1, per_tag // 2), embeddings, escape)
                    for miss in near_misses]
        parts.append(near_misses_html(near_misses, legend, header, escape, examples))
    parts.append("</body></html>\n")
    runfolder.write_text(run_dir / runfolder.SYNONYMS_HTML, "".join(parts))


def near_miss_pictures(manifest, tag_images: dict, miss: dict, per_tag: int, embeddings, escape) -> str:
    """Each tag's examples for one near miss, named, side by side: half a group member's share, so a list of a
    hundred pairs stays a page and not a download."""
    canonical, variant = tag_images.get(miss["canonical"], []), tag_images.get(miss["variant"], [])
    sides = []
    for tag, own, other in ((miss["canonical"], canonical, variant), (miss["variant"], variant, canonical)):
        pictures = pictures_html(manifest, pair_sample(own, other, per_tag, embeddings))
        if pictures:
            sides.append(f"<span class='side'><span class='who'>{escape(tag)}</span> {pictures}</span>")
    return "".join(sides)


def near_misses_html(near_misses, legend: dict, header: str, escape, examples=None) -> str:
    """One table of the pairs listed and not merged, with the groups' evidence columns and each pair's flag; under
    each, a row of both tags' examples (examples: their HTML per pair, '' for none)."""
    examples = examples or [""] * len(near_misses)
    columns = 4 + len(legend)
    rows = "".join(
        f"<tr><td>{escape(miss['canonical'])}</td><td>{escape(miss['variant'])}</td>"
        f"<td>{miss['canonical_count']} / {miss['variant_count']}</td>"
        + "".join(f"<td>{escape(cell_text(miss.get(name)))}</td>" for name in legend) + f"<td>{escape(miss['flag'])}</td></tr>"
        + (f"<tr class='examples'><td colspan='{columns}'>{pictures}</td></tr>" if pictures else "")
        for miss, pictures in zip(near_misses, examples))
    return (f"<h2>Near misses ({counted(len(near_misses), 'pair')}, listed, not merged)</h2>"
            f"<p class='note'>Pairs just under the cut-off, scored as one and kept apart by another pair, near in "
            f"spelling and told apart by their images, spelled alike where the images cannot decide, spelled alike "
            f"and typed together more than this collection's spellings are, alike and never on one image, or a tag "
            f"too rare to train on spelled as a kept one: accept one in review.py or "
            f"{escape(runfolder.REVIEW)} to merge it.</p>"
            f"<div class='group'><table><tr><th>tag</th><th>other tag</th>"
            f"<th title='{escape(IMAGES_LEGEND, quote=True)}'>images</th>{header}"
            f"<th title='why the pair is listed and not merged'>flag</th></tr>{rows}</table></div>")
