"""`review --serve` in a real Chromium: fix a word, rename a speaker, give a paragraph to another
speaker, move a heading, approve.

The demo episode is synthesized, served from 127.0.0.1 and really transcribed (`transcribe`, the
bundled model, diarization); then `python -m pipeline review --serve` runs as a subprocess and
selenium drives the page. Every check on the episode file compares whole bytes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO
from pipeline.lab import synth
from pipeline.lab.serve import serve
from test_review import CHROMEDRIVER, CHROMIUM, _click, _current_time, _no_console_errors, _wait

TIMECODE = re.compile(r"^\[\d\d:\d\d:\d\d\] ")
# The site is really transcribed (in a subprocess), and the page driven in Chromium.
pytestmark = [pytest.mark.model, pytest.mark.chromium]


def pipeline(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("served-site")
    script = synth.load_script("demo")
    truth = synth.synthesize(script, root / "media" / f"{script.slug}.mp3")
    with serve(root / "media") as base:
        episode = synth.write_episode_file(script, truth, f"{base}/{script.slug}.mp3",
                                           root / "episodes" / script.slug / "index.md")
        pipeline("transcribe", cwd=root)
    return root, episode


@pytest.fixture(scope="module")
def server(site: tuple[Path, Path]):  # type: ignore[no-untyped-def]
    root, episode = site
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "review", "--serve", "--port", "0"], cwd=root,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()  # type: ignore[union-attr]
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert "http://127.0.0.1:" in line, first + line + (proc.stderr.read() if proc.poll() is not None else "")  # type: ignore[union-attr]
        yield line.split(": ", 1)[1].strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(server: str):  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), "apt-get install chromium chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required", "--window-size=1200,900"):
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="review-server-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _open(driver, url: str) -> None:  # type: ignore[no-untyped-def]
    driver.get(url)
    _wait(driver, "return document.getElementById('player').readyState >= 1", "audio metadata")


def _saved(driver) -> None:  # type: ignore[no-untyped-def]
    _wait(driver, "var s = document.getElementById('status'); return s && /^Saved/.test(s.textContent)"
                  " && document.getElementById('player').readyState >= 1", "the save and reload", 30)


def _paragraph_lines(text: str) -> list[int]:
    lines = text.split("\n")
    return [i for i, line in enumerate(lines) if TIMECODE.match(line)]


def test_fix_a_word_rename_a_speaker_approve_and_nothing_else_changes(site, server, browser) -> None:
    root, episode = site
    original = episode.read_bytes().decode()
    out = root / "transcripts" / episode.parent.name
    assert "reviewed = false" in original
    _open(browser, server)
    _no_console_errors(browser)

    # 1. A word: double-click, type, Enter.
    para = browser.find_elements("css selector", "p.para")[1]
    n = int(para.get_attribute("id")[1:])
    words = para.find_elements("css selector", ".w")
    k = 2
    old_word = words[k].text
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", words[k])
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    ActionChains(browser).double_click(words[k]).perform()
    box = browser.find_element("css selector", "input.word-input")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("Abbie", Keys.ENTER)
    _saved(browser)
    lines = original.split("\n")
    i = _paragraph_lines(original)[n]
    prefix = re.match(r"^\[\d\d:\d\d:\d\d\] (\*\*.+?:\*\* )?", lines[i]).group(0)  # type: ignore[union-attr]
    tokens = lines[i][len(prefix):].split(" ")
    assert tokens[k].replace("\\", "") == old_word or tokens[k] == old_word
    tokens[k] = "Abbie"
    lines[i] = prefix + " ".join(tokens)
    expected = "\n".join(lines)
    assert episode.read_bytes().decode() == expected
    assert "Abbie" in (out / "transcript.vtt").read_text() and "Abbie" in (out / "transcript.json").read_text()

    # 2. A speaker: the first turn gets the new full name; later turns keep the short one.
    field = browser.find_element("css selector", "#speakers input[data-speaker='Jeremy Jung']")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys("Jeremy Q Jung", Keys.ENTER)
    _saved(browser)
    assert expected.count("**Jeremy Jung:**") == 1
    expected = expected.replace("**Jeremy Jung:**", "**Jeremy Q Jung:**")
    assert episode.read_bytes().decode() == expected
    doc = json.loads((out / "transcript.json").read_text())
    assert "Jeremy Q Jung" in {s.get("speaker") for s in doc["segments"]}
    assert "Jeremy" not in {s.get("speaker") for s in doc["segments"]}  # his later, short-named turns too
    assert "<v Jeremy Q Jung>" in (out / "transcript.vtt").read_text()

    # 2b. One paragraph to the other speaker: "who?", then the name; its neighbours' labels follow.
    from pipeline import edits, episodes, retime
    body = edits.current_body(episode, expected)
    known = episodes.load(episode).speakers  # the front matter's, as the server reads them
    who = retime.resolve_speakers(retime.blocks(body), known)
    n = next(j for j in range(1, len(who) - 1) if who[j] != who[j + 1])  # the next turn becomes its continuation
    other = who[n + 1]
    assert other
    para = browser.find_element("id", f"p{n}")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", para)
    _click(browser, para.find_element("css selector", "button.who"))
    from selenium.webdriver.support.ui import Select
    Select(browser.find_element("css selector", "select.who-pick")).select_by_visible_text(other)
    _saved(browser)
    changed = edits.set_speaker(body, n, other, known)
    assert changed != body and retime.resolve_speakers(retime.blocks(changed), known)[n] == other
    expected = expected.replace(body, changed)
    assert episode.read_bytes().decode() == expected
    _no_console_errors(browser)

    # 3. A heading one paragraph down: that paragraph now belongs to the chapter before.
    heading = browser.find_elements("css selector", "h2.chapter")[1]
    title = heading.text.split(" [")[0]
    _click(browser, heading.find_element("css selector", "button.move[data-move='1']"))
    _saved(browser)
    lines = expected.split("\n")
    h = lines.index(f"## {title}")
    assert lines[h + 1] == "" and TIMECODE.match(lines[h + 2]) and lines[h + 3] == ""
    expected = "\n".join(lines[:h] + [lines[h + 2], "", lines[h]] + lines[h + 3:])
    assert episode.read_bytes().decode() == expected
    chapters = json.loads((out / "chapters.json").read_text())["chapters"]
    moved_to = float(browser.find_elements("css selector", "h2.chapter")[1]
                     .find_element("css selector", "a.tc").get_attribute("data-start"))
    assert next(c["startTime"] for c in chapters if c["title"] == title) == pytest.approx(moved_to, abs=0.01)

    # 4. Keys: play/pause and back 5 s work without touching the mouse.
    body = browser.find_element("tag name", "body")
    browser.execute_script("document.getElementById('player').currentTime = 12")
    ActionChains(browser).key_down(Keys.CONTROL).send_keys(Keys.ARROW_LEFT).key_up(Keys.CONTROL).perform()
    assert _current_time(browser) == pytest.approx(7.0, abs=0.3)
    ActionChains(browser).key_down(Keys.CONTROL).send_keys(" ").key_up(Keys.CONTROL).perform()
    _wait(browser, "return !document.getElementById('player').paused", "play on Ctrl+Space")
    ActionChains(browser).key_down(Keys.CONTROL).send_keys(" ").key_up(Keys.CONTROL).perform()
    _wait(browser, "return document.getElementById('player').paused", "pause on Ctrl+Space")
    body.send_keys("n")
    assert browser.execute_script("return location.hash").startswith("#")

    # 5. Approve.
    _click(browser, browser.find_element("id", "approve-btn"))
    _saved(browser)
    assert expected.count("reviewed = false") == 1
    expected = expected.replace("reviewed = false", "reviewed = true")
    assert episode.read_bytes().decode() == expected
    assert browser.find_element("id", "approve-btn").text.startswith("Approved")
    _no_console_errors(browser)


def test_a_file_changed_on_disk_is_not_overwritten_and_the_edit_is_kept(site, server, browser) -> None:
    root, episode = site
    _open(browser, server)
    changed = episode.read_bytes() + b"\nA line a person added meanwhile.\n"
    episode.write_bytes(changed)
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    para = browser.find_elements("css selector", "p.para")[0]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", para)
    ActionChains(browser).double_click(para.find_element("css selector", "a.tc")).perform()
    area = browser.find_element("css selector", "textarea.para-edit")
    area.send_keys(" My careful rewrite.")
    ActionChains(browser).key_down(Keys.CONTROL).send_keys(Keys.ENTER).key_up(Keys.CONTROL).perform()
    _wait(browser, "var s = document.getElementById('status'); return s && /changed on disk/.test(s.textContent)",
          "the conflict message")
    kept = browser.find_element("id", "unsaved").get_attribute("value")
    assert kept.endswith("My careful rewrite.")
    assert episode.read_bytes() == changed


def test_writes_need_the_session_token_and_the_local_host(server) -> None:
    base = server.split("/episode/")[0]
    slug = server.split("/episode/")[1].split("?")[0]
    request = urllib.request.Request(f"{base}/api/{slug}/approve", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json", "X-Review-Token": "guess"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 403
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(server.split("?")[0], timeout=10)  # the page without its token
    assert err.value.code == 403
    token = server.split("token=")[1]
    rebound = urllib.request.Request(server, headers={"Host": f"evil.example:{base.rsplit(':', 1)[1]}"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(rebound, timeout=10)
    assert err.value.code == 403 and token
