"""synonyms.html: one self-contained page to review the proposed variant groups at a glance."""

import base64
import html
import io
from pathlib import Path

from PIL import Image

from tagger import runfolder
from tagger.images import load_image

THUMBNAIL_SIZE = 96

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
.group{border:1px solid #ccc;border-radius:6px;padding:0.8em 1em;margin:1em 0}
.group h2{margin:0 0 0.4em 0;font-size:1.1em}
table{border-collapse:collapse}td,th{padding:0.25em 0.6em;text-align:left;vertical-align:middle}
th{font-weight:600;border-bottom:1px solid #ddd}.canonical{font-weight:700}
img{margin-right:3px;border-radius:3px}.note{color:#666;font-size:0.9em}
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


def images_of_tags(manifest: runfolder.Manifest, tags: set[str], per_tag: int) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {tag: [] for tag in tags}
    for path, image_tags in zip(manifest.paths, manifest.tags):
        for tag in image_tags:
            if tag in found and len(found[tag]) < per_tag:
                found[tag].append(path)
    return found


def write_synonyms_page(run_dir: Path, groups, manifest: runfolder.Manifest, method: str, per_tag: int = 3) -> None:
    escape = html.escape
    members = {tag for group in groups for tag in group.members}
    examples = images_of_tags(manifest, members, per_tag)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Tag variants</title>"
             f"<style>{STYLE}</style></head><body>",
             f"<h1>Proposed tag variants ({len(groups)} groups, method {escape(method)})</h1>",
             f"<p class='note'>Most confident first. Decide in {escape(runfolder.REVIEW)} (decision: accept or reject), "
             f"then run apply_review.py to write {escape(runfolder.ALIASES)}.</p>"]
    for number, group in enumerate(groups, start=1):
        parts.append(f"<div class='group'><h2>{number}. {escape(group.canonical)}</h2><table>"
                     "<tr><th>tag</th><th>images</th><th>score</th><th>visual</th><th>context</th>"
                     "<th>spelling</th><th>overlap</th><th>examples</th></tr>")
        for index, tag in enumerate(group.members):
            cells = [f"<span class='canonical'>{escape(tag)}</span> (canonical)" if index == 0 else escape(tag),
                     str(group.counts[index]),
                     "" if index == 0 or not group.scores else f"{group.scores[index]:.2f}",
                     "" if index == 0 else f"{group.similarities[index]:.2f}"]
            for name in ("context", "spelling", "overlap"):
                value = None if index == 0 or group.evidence is None else float(getattr(group.evidence, name)[index])
                cells.append("" if value is None or value != value else f"{value:.2f}")
            pictures = "".join(f"<img src='{uri}' width='{THUMBNAIL_SIZE}' height='{THUMBNAIL_SIZE}' "
                               f"alt='{escape(path, quote=True)}' title='{escape(path, quote=True)}'>"
                               for path in examples.get(tag, []) if (uri := thumbnail(path)))
            parts.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + f"<td>{pictures}</td></tr>")
        parts.append("</table></div>")
    if not groups:
        parts.append("<p>No variant groups were found.</p>")
    parts.append("</body></html>\n")
    runfolder.write_text(run_dir / runfolder.SYNONYMS_HTML, "".join(parts))
