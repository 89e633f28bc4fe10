"""docs/publishing.md's feed template, rendered for a sample site, checked against the Podcasting 2.0
namespace: each `<podcast:transcript>` and `<podcast:chapters>` has the attributes the namespace
requires, with its types, and points at a file `publish` really wrote, in the format it names.

The template is Zola's (Tera); the block uses only what Tera and Jinja2 share, so Jinja2 renders
it here with Zola's variables (`config`, `pages`, `page.permalink`, `page.extra`, `lang`) and
Zola's `escape_xml` and `date(format=...)` filters.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import xml.etree.ElementTree as ET
import xml.sax.saxutils
from pathlib import Path

import jinja2

from conftest import REPO
from pipeline import episodes
from test_publish import SLUG, cli, site

DOC = REPO / "docs" / "publishing.md"
NS = "https://podcastindex.org/namespace/1.0"
TRANSCRIPT_TYPES = {"text/plain", "text/html", "text/vtt", "application/json", "application/x-subrip"}
BASE = "https://podcast.example.org"


def feed_template() -> str:
    text = DOC.read_text(encoding="utf-8")
    m = re.search(r"<!-- feed-template[^>]*-->\s*```xml\n(.*?)\n```", text, flags=re.S)
    assert m, "docs/publishing.md lost its marked feed template"
    return m.group(1)


def render_feed(pages: list[dict]) -> str:
    env = jinja2.Environment(undefined=jinja2.ChainableUndefined)
    env.filters["date"] = lambda value, format: dt.date.fromisoformat(str(value)).strftime(format)
    # Zola's escape_xml, with `safe` after it as Zola's own feeds do
    env.filters["escape_xml"] = lambda v: xml.sax.saxutils.escape(str(v), {"\"": "&quot;", "'": "&apos;"})
    return env.from_string(feed_template()).render(
        config={"title": "Software Sessions", "base_url": BASE, "description": "Talks & <code>"},
        lang="en", pages=pages)


def page_of(path: Path) -> dict:
    episode = episodes.load(path)
    return {"title": episode.title, "permalink": f"{BASE}/episodes/{episode.slug}/", "date": "2019-09-13",
            "extra": episode.front_matter.get("extra", {}), "slug": episode.slug}


def test_the_feed_template_declares_what_publish_wrote_as_the_namespace_asks(tmp_path: Path) -> None:
    path = site(tmp_path)
    (tmp_path / "podcast-transcripts.toml").write_text('sidecars = "bundle"\n')
    assert cli("publish", cwd=tmp_path).returncode == 0
    pending = tmp_path / "episodes" / "later" / "index.md"
    pending.parent.mkdir()
    pending.write_text('+++\ntitle = "Later"\n[extra]\nepisode_url = "https://example.com/l.mp3"\n+++\n\n'
                       "## Transcript\n\nTranscript for this episode is coming soon.\n")

    rss = ET.fromstring(render_feed([page_of(path), page_of(pending)]).encode())
    items = rss.findall("./channel/item")
    assert [i.findtext("title") for i in items] == ["Wine", "Later"]
    done, later = items
    assert later.findall(f"{{{NS}}}transcript") == [] and later.findall(f"{{{NS}}}chapters") == []

    bundle = path.parent
    served = {f"{BASE}/episodes/{SLUG}/{p.name}": p for p in bundle.iterdir()}
    transcripts = done.findall(f"{{{NS}}}transcript")
    assert {t.get("type") for t in transcripts} == {"text/vtt", "application/x-subrip", "application/json"}
    for t in transcripts:
        assert set(t.attrib) <= {"url", "type", "language", "rel"}
        assert t.get("type") in TRANSCRIPT_TYPES and t.get("rel") in (None, "captions") and t.get("language") == "en"
        file = served[t.get("url")]  # the URL is a file Zola publishes with the page
        content = file.read_text(encoding="utf-8")
        if t.get("type") == "text/vtt":
            assert content.startswith("WEBVTT\n") and "-->" in content and t.get("rel") == "captions"
        elif t.get("type") == "application/x-subrip":
            assert re.match(r"1\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\n", content)
        else:
            doc = json.loads(content)
            assert doc["version"] == "1.0.0" and doc["segments"]
            for seg in doc["segments"]:
                assert set(seg) <= {"speaker", "startTime", "endTime", "body"}
                assert 0 <= seg["startTime"] < seg["endTime"] and isinstance(seg["body"], str)

    [chapters] = done.findall(f"{{{NS}}}chapters")
    assert chapters.get("type") == "application/json+chapters"
    doc = json.loads(served[chapters.get("url")].read_text(encoding="utf-8"))
    assert doc["version"] == "1.2.0" and [c["title"] for c in doc["chapters"]] == [
        "What's Wine", "C++ & <Rust> *stars*", "Wrap-up"]
    assert all(isinstance(c["startTime"], (int, float)) for c in doc["chapters"])
    enclosure = done.find("enclosure")
    assert enclosure is not None and enclosure.get("url") == "https://example.com/w.mp3"
    assert rss.findtext("./channel/description") == "Talks & <code>"  # escaped in, parsed back out
    shutil.rmtree(bundle.parent / "later")
