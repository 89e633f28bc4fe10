"""Markdown rendering: the site's published paragraph style, names, escaping, review marks."""

from __future__ import annotations

import re

import pytest

from align_fakes import build, check_golden, golden_episode
from conftest import SHARED_EPISODES
from pipeline.align import Options, align
from pipeline.render import display_names, escape, render_markdown

PUBLISHED = re.compile(r"^\[\d\d:\d\d:\d\d\] (\*\*[^*\n]+:\*\* )?\S")


def rendered(options: Options = Options(), speakers: bool = True) -> str:
    t, chapters = golden_episode(speakers)
    return render_markdown(align(t, chapters, options), options)


def test_golden_transcript_with_speakers_headings_and_continuations():
    check_golden("transcript.md", rendered())


def test_golden_transcript_with_review_marks_and_level_three_headings():
    check_golden("transcript-marked.md", rendered(Options(mark_low_confidence=True, heading_level=3)))


def test_golden_transcript_without_speakers():
    check_golden("transcript-nospeakers.md", rendered(speakers=False))


ESCAPE_CASES = [
    "Vec<T> & Box<dyn Error>",
    "don't, can't, it's, rock 'n' roll",
    "a *star* and **bold** and _under_ and snake_case",
    "`cargo build` and ```fences```",
    "[a link](https://example.com) and ![image](x.png) and [ref][1]",
    "# not a heading",
    "## not one either",
    "- not a list",
    "+ not a list",
    "* not a list",
    "1. not a list",
    "42) not a list",
    "> not a quote",
    "---",
    "===",
    "| a | b |",
    "~~not struck~~",
    "{{ not_a_shortcode() }} and {% raw %} and {# comment #}",
    "back\\slash and \\*escaped",
    "<script>alert(1)</script>",
    "&amp; already an entity",
    "1.5 seconds, 2.0 release, e.g. this",
    "C# and F# and #hashtag",
    "a  lot   of    spaces",
]


def test_golden_escaping_rules():
    check_golden("escape.md", "".join(f"{case}\n    -> {escape(case)}\n" for case in ESCAPE_CASES))


def test_escaped_text_renders_back_to_itself_in_a_commonmark_renderer():
    import markdown_it
    import html

    md = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])
    for case in ESCAPE_CASES:
        out = md.render(f'<div class="transcript">\n\n{escape(case)}\n\n</div>\n')
        inner = out.removeprefix('<div class="transcript">\n').removesuffix("</div>\n")
        assert inner.startswith("<p>") and inner.endswith("</p>\n"), (case, out)  # no list, heading, quote
        body = inner[3:-5]
        assert "<" not in body, (case, out)  # no emphasis, code, link, image or raw HTML
        assert html.unescape(body) == " ".join(case.split()), (case, out)


def test_escaping_leaves_ordinary_words_alone():
    plain = "I don't think it's the compiler's fault, e.g. in version 2.0 at 3:15 - really."
    assert escape(plain) == plain


def test_whole_transcript_renders_as_paragraphs_and_headings_only():
    import markdown_it
    md = markdown_it.MarkdownIt("commonmark")
    source = rendered(Options(mark_low_confidence=True))
    html = md.render(f'<div class="transcript">\n\n{source}\n</div>\n')
    tags = set(re.findall(r"<(\w+)", html))
    assert tags == {"div", "p", "h2", "strong", "em"}, tags
    assert "Vec&lt;T&gt; &amp; Box&lt;dyn Error&gt;" in html
    # Zola and Jekyll expand {{ }} and {% %} in the source, before markdown sees it.
    assert "{{" not in source and "}}" not in source and "{%" not in source


@pytest.mark.shared
def test_paragraphs_follow_the_published_sites_style():
    real = (SHARED_EPISODES / "zola/2025-09-24-wine/index.md").read_text(encoding="utf-8")
    real_paragraphs = [line for line in real.splitlines() if re.match(r"^\[\d\d:", line)]
    assert len(real_paragraphs) > 100 and all(PUBLISHED.match(line) for line in real_paragraphs)
    ours = [b for b in rendered().split("\n\n") if not b.startswith("#")]
    assert ours and all(PUBLISHED.match(b) and "\n" not in b.strip() for b in ours)


def test_full_name_at_first_turn_then_first_name_and_generic_labels_stay_whole():
    text = rendered()
    labels = re.findall(r"\*\*([^*]+):\*\*", text)
    assert labels[:3] == ["Jeremy Jung", "Elizabeth Figura", "Jeremy"]
    assert "Speaker 3" in labels and "Speaker" not in labels
    assert labels.count("Jeremy Jung") == 1 and labels.count("Elizabeth Figura") == 1


def test_people_sharing_a_first_name_keep_their_full_names():
    assert display_names(["Jeremy Jung", "Jeremy Smith", "Xe Iaso", "Speaker 2", "Cher", None]) == {
        "Jeremy Jung": "Jeremy Jung", "Jeremy Smith": "Jeremy Smith", "Xe Iaso": "Xe",
        "Speaker 2": "Speaker 2", "Cher": "Cher"}


def test_continuation_by_the_same_speaker_drops_the_name_but_a_heading_brings_it_back():
    t = build([("Ann Lee", "First thought goes here and on.", 2.0), ("Ann Lee", "Second thought after a pause.", 0.5)])
    options = Options(paragraph_pause=1.0)
    text = render_markdown(align(t, [], options), options)
    assert text == ("[00:00:00] **Ann Lee:** First thought goes here and on.\n\n"
                    "[00:00:04] Second thought after a pause.\n")
    from pipeline.models import Chapter

    text = render_markdown(align(t, [Chapter(int(t.segments[1].start), "Next", 1)], options), options)
    assert text.endswith("## Next\n\n[00:00:04] **Ann:** Second thought after a pause.\n")


def test_review_marks_follow_each_run_of_low_confidence_words_only_when_asked():
    t = build([("A", "We use the tokyo@0.2 runtime@0.3 for async@0.1 work.", 0.5)])
    marked = Options(mark_low_confidence=True, review_threshold=0.5)
    text = render_markdown(align(t, [], marked), marked)
    assert "tokyo runtime (_needs review_ 00:01) for async (_needs review_ 00:02) work." in text
    assert "needs review" not in render_markdown(align(t, []), Options())


def test_timecodes_pass_the_hour():
    t = build([(None, "Late in the episode now.", 0.5)], start=3725.4)
    assert render_markdown(align(t, []), Options()).startswith("[01:02:05] Late in the episode now.")
