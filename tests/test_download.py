"""The download stage against a real HTTP server on 127.0.0.1 that injects faults."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import time
from email.utils import formatdate
from pathlib import Path

import pytest
from faultserver import Fault, FaultServer

from pipeline.download import Downloader, Options, parse_retry_after, sniff
from pipeline.errors import DownloadError

FAST = Options(connect_timeout=2.0, read_timeout=2.0, retries=3, backoff=0.01, max_backoff=2.0, chunk_bytes=4096)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def ffmpeg(out: Path, *args: str) -> bytes:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=3", *args, str(out)],
        check=True,
    )
    return out.read_bytes()


@pytest.fixture(scope="session")
def mp3(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real MP3 (ID3 tag, then frames), about 50 KB: many chunks, so a cut lands mid-body."""
    return ffmpeg(tmp_path_factory.mktemp("audio") / "tone.mp3", "-b:a", "128k")


@pytest.fixture(scope="session")
def mp3_v2(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A different real MP3, for 'the remote changed'."""
    return ffmpeg(tmp_path_factory.mktemp("audio") / "tone2.mp3", "-b:a", "96k")


class Recorder:
    """A real sleep that remembers what it was asked for."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        time.sleep(seconds)


@pytest.fixture
def sleeps() -> Recorder:
    return Recorder()


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "audio"


def downloader(cache: Path, sleeps: Recorder | None = None, **changes: object) -> Downloader:
    from dataclasses import replace

    return Downloader(replace(FAST, **changes), cache, sleep=sleeps or Recorder())  # type: ignore[arg-type]


def only_final_files(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def assert_nothing_final(cache: Path, name: str = "ep") -> None:
    leftovers = [n for n in only_final_files(cache) if not n.endswith((".part", ".part.json"))]
    assert leftovers == [], f"half-written or unverified files where the next stage looks: {leftovers}"


# -- the normal path ---------------------------------------------------------------------------


def test_downloads_verifies_and_records_metadata(fault_server: FaultServer, cache: Path, mp3: bytes) -> None:
    fault_server.add("/ep.mp3", mp3, etag='"v1"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT")
    with downloader(cache) as dl:
        audio = dl.fetch(fault_server.url("/ep.mp3"), "ep", label="Episode 1")
    assert audio.path == cache / "ep.mp3"
    assert audio.path.read_bytes() == mp3
    assert audio.sha256 == sha(mp3) and audio.size == len(mp3)
    assert audio.content_type == "audio/mpeg"
    meta = json.loads((cache / "ep.mp3.json").read_text())
    assert meta["sha256"] == sha(mp3) and meta["size"] == len(mp3)
    assert meta["etag"] == '"v1"' and meta["last_modified"] == "Mon, 01 Jan 2024 00:00:00 GMT"
    assert meta["url"] == meta["final_url"] == fault_server.url("/ep.mp3")
    assert meta["fetched_at"]
    assert only_final_files(cache) == ["ep.mp3", "ep.mp3.json"]


def test_extension_comes_from_content_type_when_url_has_none(
    fault_server: FaultServer, cache: Path, tmp_path: Path
) -> None:
    m4a = ffmpeg(tmp_path / "tone.m4a", "-c:a", "aac", "-b:a", "64k")
    fault_server.add("/media/12345", m4a, content_type="audio/mp4")
    audio = downloader(cache).fetch(fault_server.url("/media/12345"), "ep")
    assert audio.path == cache / "ep.m4a" and sha(audio.path.read_bytes()) == sha(m4a)


# -- interrupted transfers ----------------------------------------------------------------------


def test_resumes_after_dropped_connection(fault_server: FaultServer, cache: Path, mp3: bytes) -> None:
    fault_server.add("/ep.mp3", mp3, etag='"v1"', faults=[Fault(drop_after=len(mp3) // 2)])
    audio = downloader(cache).fetch(fault_server.url("/ep.mp3"), "ep")
    assert sha(audio.path.read_bytes()) == sha(mp3)
    second = fault_server.hits("/ep.mp3")[1]
    start = int(second.headers["range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < start <= len(mp3) // 2
    assert second.headers["if-range"] == '"v1"'
    assert fault_server.statuses("/ep.mp3") == [200, 206]
    assert only_final_files(cache) == ["ep.mp3", "ep.mp3.json"]


def test_resumes_part_left_by_an_earlier_run(fault_server: FaultServer, cache: Path, mp3: bytes) -> None:
    cache.mkdir()
    (cache / "ep.mp3.part").write_bytes(mp3[:15000])
    fault_server.add("/ep.mp3", mp3)
    audio = downloader(cache).fetch(fault_server.url("/ep.mp3"), "ep")
    assert sha(audio.path.read_bytes()) == sha(mp3)
    [request] = fault_server.hits("/ep.mp3")
    assert request.headers["range"] == "bytes=15000-"
    assert fault_server.responses[0].sent == len(mp3) - 15000
    assert not (cache / "ep.mp3.part").exists()


def test_part_of_an_older_version_is_not_spliced_onto_a_new_one(
    fault_server: FaultServer, cache: Path, mp3: bytes, mp3_v2: bytes
) -> None:
    route = fault_server.add("/ep.mp3", mp3, etag='"v1"', faults=[Fault(drop_after=20000)])
    with pytest.raises(DownloadError):
        downloader(cache, retries=0).fetch(fault_server.url("/ep.mp3"), "ep")
    assert (cache / "ep.mp3.part").exists()
    route.body, route.etag = mp3_v2, '"v2"'  # published again in between runs
    audio = downloader(cache).fetch(fault_server.url("/ep.mp3"), "ep")
    assert sha(audio.path.read_bytes()) == sha(mp3_v2)
    assert fault_server.hits("/ep.mp3")[-1].headers["if-range"] == '"v1"'
    assert fault_server.statuses("/ep.mp3")[-1] == 200  # If-Range did its job: whole new body


def test_server_ignoring_range_restarts_from_scratch(fault_server: FaultServer, cache: Path, mp3: bytes) -> None:
    fault_server.add("/ep.mp3", mp3, faults=[Fault(drop_after=20000)], default=Fault(ignore_range=True))
    audio = downloader(cache).fetch(fault_server.url("/ep.mp3"), "ep")
    assert sha(audio.path.read_bytes()) == sha(mp3)
    assert "range" in fault_server.hits("/ep.mp3")[1].headers
    assert fault_server.statuses("/ep.mp3") == [200, 200]


def test_mismatched_content_range_restarts_from_scratch(fault_server: FaultServer, cache: Path, mp3: bytes) -> None:
    cache.mkdir()
    (cache / "ep.mp3.part").write_bytes(mp3[:15000])
    rest = len(mp3) - 15000
    lying = Fault(headers={"Content-Range": f"bytes 0-{rest - 1}/{len(mp3)}"})  # not where we asked
    fault_server.add("/ep.mp3", mp3, faults=[lying])
    audio = downloader(cache).fetch(fault_server.url("/ep.mp3"), "ep")
    assert sha(audio.path.read_bytes()) == sha(mp3)
    assert [("range" in r.headers) for r in fault_server.hits("/ep.mp3")] == [True, False]


def test_short_body_once_is_recovered(fault_server: FaultServer, cache: Path, mp3: bytes) -> None:
    fault_server.add("/ep.mp3", mp3, faults=[Fault(content_length=len(mp3) + 1000)])
    audio = downloader(cache).fetch(fault_server.url("/ep.mp3"), "ep")
    assert sha(audio.path.read_bytes()) == sha(mp3)


def test_wrong_content_length_fails_without_final_file(fault_server: FaultServer, cache: Path, mp3: bytes) -> None:
    """Every answer announces 1000 bytes more than it sends, then closes."""
    fault_server.add("/ep.mp3", mp3, default=Fault(content_length=len(mp3) + 1000))
    with pytest.raises(DownloadError, match=r"after 4 attempts"):
        downloader(cache).fetch(fault_server.url("/ep.mp3"), "ep")
    assert_nothing_final(cache)


# -- retries ----------------------------------------------------------------------------------


def test_retries_server_errors_then_succeeds(
    fault_server: FaultServer, cache: Path, mp3: bytes, sleeps: Recorder
) -> None:
    fault_server.add("/ep.mp3", mp3, faults=[Fault(status=500), Fault(status=503)])
    audio = downloader(cache, sleeps).fetch(fault_server.url("/ep.mp3"), "ep")
    assert sha(audio.path.read_bytes()) == sha(mp3)
    assert fault_server.statuses("/ep.mp3") == [500, 503, 200]
    # exponential backoff with jitter: attempt n waits within [backoff * 2^(n-1) / 2, backoff * 2^(n-1)]
    assert len(sleeps.calls) == 2
    assert 0.005 <= sleeps.calls[0] <= 0.01 and 0.01 <= sleeps.calls[1] <= 0.02


def test_gives_up_after_retries_naming_episode_url_status_attempts(
    fault_server: FaultServer, cache: Path, mp3: bytes
) -> None:
    fault_server.add("/ep.mp3", mp3, default=Fault(status=503))
    url = fault_server.url("/ep.mp3")
    with pytest.raises(DownloadError) as err:
        downloader(cache, retries=2).fetch(url, "ep", label="Episode 42: Ownership")
    message = str(err.value)
    assert "Episode 42: Ownership" in message and url in message
    assert "503" in message and "after 3 attempts" in message
    assert len(fault_server.hits("/ep.mp3")) == 3
    assert_nothing_final(cache)


def test_honours_retry_after_on_429(fault_server: FaultServer, cache: Path, mp3: bytes, sleeps: Recorder) -> None:
    fault_server.add("/ep.mp3", mp3, faults=[Fault(status=429, headers={"Retry-After": "1"})])
    began = time.monotonic()
    audio = downloader(cache, sleeps).fetch(fault_server.url("/ep.mp3"), "ep")
    elapsed = time.monotonic() - began
    assert sha(audio.path.read_bytes()) == sha(mp3)
    assert sleeps.calls == [1.0]
    assert elapsed >= 1.0  # backoff alone would have waited 0.01 s
    assert fault_server.statuses("/ep.mp3") == [429, 200]


def test_retry_after_is_capped_by_max_backoff(fault_server: FaultServer, cache: Path, mp3: bytes, sleeps: Recorder) -> None:
    fault_server.add("/ep.mp3", mp3, faults=[Fault(status=503, headers={"Retry-After": "3600"})])
    audio = downloader(cache, sleeps, max_backoff=0.2).fetch(fault_server.url("/ep.mp3"), "ep")
    assert sha(audio.path.read_bytes()) == sha(mp3)
    assert sleeps.calls == [0.2]


def test_retry_after_as_http_date() -> None:
    now = time.time()
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("soon") is None


def test_not_found_fails_at_once(fault_server: FaultServer, cache: Path, sleeps: Recorder) -> None:
    url = fault_server.url("/missing.mp3")
    with pytest.raises(DownloadError) as err:
        downloader(cache, sleeps).fetch(url, "ep", label="Episode 7")
    assert "Episode 7" in str(err.value) and url in str(err.value)
    assert "404" in str(err.value) and "after 1 attempt" in str(err.value)
    assert len(fault_server.hits("/missing.mp3")) == 1 and sleeps.calls == []
    assert_nothing_final(cache)


def test_slow_server_times_out_retries_and_fails(fault_server: FaultServer, cache: Path, mp3: bytes) -> None:
    fault_server.add("/ep.mp3", mp3, default=Fault(delay=1.5))
    with pytest.raises(DownloadError, match=r"timed out.*after 2 attempts"):
        downloader(cache, read_timeout=0.3, retries=1).fetch(fault_server.url("/ep.mp3"), "ep")
    assert len(fault_server.hits("/ep.mp3")) == 2
    assert_nothing_final(cache)


def test_slow_server_succeeds_when_it_speeds_up(fault_server: FaultServer, cache: Path, mp3: bytes) -> None:
    # Stalls once before the headers, once in the middle of the body (then the tail is resumed).
    fault_server.add("/ep.mp3", mp3, faults=[Fault(delay=1.0), Fault(pause_after=20000, pause=1.0)])
    audio = downloader(cache, read_timeout=0.3).fetch(fault_server.url("/ep.mp3"), "ep")
    assert sha(audio.path.read_bytes()) == sha(mp3)
    assert "range" in fault_server.hits("/ep.mp3")[2].headers


# -- redirects ----------------------------------------------------------------------------------


def test_follows_redirect_chain(fault_server: FaultServer, cache: Path, mp3: bytes) -> None:
    fault_server.redirect("/feed/ep", "/tracker/ep", status=301)
    fault_server.redirect("/tracker/ep", "/cdn/ep", status=302)
    fault_server.redirect("/cdn/ep", "/files/ep.mp3", status=307)
    fault_server.add("/files/ep.mp3", mp3)
    audio = downloader(cache).fetch(fault_server.url("/feed/ep"), "ep")
    assert sha(audio.path.read_bytes()) == sha(mp3)
    assert audio.url == fault_server.url("/files/ep.mp3")
    assert json.loads((cache / "ep.mp3.json").read_text())["url"] == fault_server.url("/feed/ep")


def test_redirect_loop_is_an_error(fault_server: FaultServer, cache: Path) -> None:
    fault_server.redirect("/a.mp3", "/b.mp3")
    fault_server.redirect("/b.mp3", "/a.mp3")
    url = fault_server.url("/a.mp3")
    with pytest.raises(DownloadError, match="redirect loop") as err:
        downloader(cache).fetch(url, "ep", label="Episode 3")
    assert url in str(err.value) and "after 1 attempt" in str(err.value)
    assert len(fault_server.hits("/a.mp3")) == 1
    assert_nothing_final(cache)


def test_too_many_redirects_is_an_error(fault_server: FaultServer, cache: Path, mp3: bytes) -> None:
    for i in range(3):
        fault_server.redirect(f"/hop{i}", f"/hop{i + 1}")
    fault_server.add("/hop3", mp3)
    with pytest.raises(DownloadError, match="too many redirects"):
        downloader(cache, max_redirects=2).fetch(fault_server.url("/hop0"), "ep")
    assert_nothing_final(cache)


def test_redirect_to_another_scheme_is_refused(fault_server: FaultServer, cache: Path) -> None:
    fault_server.redirect("/ep.mp3", "file:///etc/passwd")
    with pytest.raises(DownloadError, match="only http and https"):
        downloader(cache).fetch(fault_server.url("/ep.mp3"), "ep")
    assert_nothing_final(cache)


# -- not audio, too big, not http -------------------------------------------------------------

HTML = b"<!DOCTYPE html><html><head><title>Episode not found</title></head><body>Sorry</body></html>\n" * 20


@pytest.mark.parametrize("content_type", ["audio/mpeg", "text/html; charset=utf-8"])
def test_html_error_page_served_with_200_is_refused(
    fault_server: FaultServer, cache: Path, content_type: str
) -> None:
    fault_server.add("/ep.mp3", HTML, content_type=content_type)
    with pytest.raises(DownloadError, match="not audio") as err:
        downloader(cache).fetch(fault_server.url("/ep.mp3"), "ep", label="Episode 9")
    assert "Episode 9" in str(err.value) and "after 1 attempt" in str(err.value)
    assert len(fault_server.hits("/ep.mp3")) == 1
    assert only_final_files(cache) == []  # not even a .part: it is not resumable junk


@pytest.mark.parametrize("announced", [True, False])
def test_max_size_exceeded(fault_server: FaultServer, cache: Path, mp3: bytes, announced: bool) -> None:
    fault_server.add("/ep.mp3", mp3, default=Fault() if announced else Fault(content_length=-1))
    with pytest.raises(DownloadError, match="too large"):
        downloader(cache, max_bytes=20000).fetch(fault_server.url("/ep.mp3"), "ep")
    assert len(fault_server.hits("/ep.mp3")) == 1
    assert only_final_files(cache) == []
    if announced:  # refused on the headers alone
        assert fault_server.responses == [] or fault_server.responses[0].sent <= len(mp3)


def test_body_without_content_length_is_accepted(fault_server: FaultServer, cache: Path, mp3: bytes) -> None:
    fault_server.add("/ep.mp3", mp3, default=Fault(content_length=-1))
    audio = downloader(cache).fetch(fault_server.url("/ep.mp3"), "ep")
    assert sha(audio.path.read_bytes()) == sha(mp3)


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/ep.mp3", "data:audio/mpeg;base64,SUQz", "/tmp/ep.mp3", "ep.mp3"]
)
def test_non_http_schemes_are_refused(cache: Path, url: str) -> None:
    with pytest.raises(DownloadError, match="only http and https") as err:
        downloader(cache).fetch(url, "ep", label="Episode 5")
    assert "Episode 5" in str(err.value) and url in str(err.value)
    assert not cache.exists() or only_final_files(cache) == []


def test_recognises_audio_by_its_first_bytes(tmp_path: Path, mp3: bytes) -> None:
    real = {
        "m4a": ffmpeg(tmp_path / "a.m4a", "-c:a", "aac"),
        "wav": ffmpeg(tmp_path / "a.wav"),
        "flac": ffmpeg(tmp_path / "a.flac"),
        "ogg": ffmpeg(tmp_path / "a.ogg", "-c:a", "libvorbis"),
        "mp3 without ID3": ffmpeg(tmp_path / "b.mp3", "-id3v2_version", "0", "-write_xing", "0"),
        "mp3": mp3,
    }
    assert real["mp3 without ID3"][:3] != b"ID3"
    for kind, data in real.items():
        assert sniff(data[:16]) is not None, kind
    for junk in [HTML, b'{"error": "not found"}', b"", b"Not Found\n", b"\x00" * 16]:
        assert sniff(junk[:16]) is None, junk[:16]


# -- the cache: unchanged and changed remotes --------------------------------------------------


@pytest.mark.parametrize(
    "validators, header",
    [({"etag": '"v1"'}, "if-none-match"), ({"last_modified": "Mon, 01 Jan 2024 00:00:00 GMT"}, "if-modified-since")],
)
def test_unchanged_remote_downloads_nothing(
    fault_server: FaultServer, cache: Path, mp3: bytes, validators: dict, header: str
) -> None:
    fault_server.add("/ep.mp3", mp3, **validators)
    dl = downloader(cache)
    first = dl.fetch(fault_server.url("/ep.mp3"), "ep")
    stamp = first.path.stat().st_mtime_ns
    second = dl.fetch(fault_server.url("/ep.mp3"), "ep")
    assert second == first and sha(second.path.read_bytes()) == sha(mp3)
    assert second.path.stat().st_mtime_ns == stamp
    assert header in fault_server.hits("/ep.mp3")[1].headers
    assert fault_server.statuses("/ep.mp3") == [200, 304]
    assert fault_server.responses[1].sent == 0


def test_unchanged_remote_without_validators_is_judged_by_size(
    fault_server: FaultServer, cache: Path, mp3: bytes
) -> None:
    fault_server.add("/ep.mp3", mp3)
    dl = downloader(cache)
    first = dl.fetch(fault_server.url("/ep.mp3"), "ep")
    stamp = first.path.stat().st_mtime_ns
    assert dl.fetch(fault_server.url("/ep.mp3"), "ep") == first
    assert first.path.stat().st_mtime_ns == stamp and not (cache / "ep.mp3.part").exists()


def test_changed_remote_is_downloaded_again(
    fault_server: FaultServer, cache: Path, mp3: bytes, mp3_v2: bytes
) -> None:
    route = fault_server.add("/ep.mp3", mp3, etag='"v1"')
    dl = downloader(cache)
    assert dl.fetch(fault_server.url("/ep.mp3"), "ep").sha256 == sha(mp3)
    route.body, route.etag = mp3_v2, '"v2"'
    audio = dl.fetch(fault_server.url("/ep.mp3"), "ep")
    assert sha(audio.path.read_bytes()) == sha(mp3_v2) == audio.sha256
    meta = json.loads((cache / "ep.mp3.json").read_text())
    assert meta["etag"] == '"v2"' and meta["sha256"] == sha(mp3_v2)
    assert fault_server.hits("/ep.mp3")[1].headers["if-none-match"] == '"v1"'
    assert only_final_files(cache) == ["ep.mp3", "ep.mp3.json"]


def test_cached_copy_is_used_when_the_host_is_down(cache: Path, mp3: bytes) -> None:
    with FaultServer() as server:
        server.add("/ep.mp3", mp3, etag='"v1"')
        url = server.url("/ep.mp3")
        first = downloader(cache).fetch(url, "ep")
    # the server is gone: connection refused
    assert downloader(cache).fetch(url, "ep") == first


# -- progress -----------------------------------------------------------------------------------


def test_progress_bar_and_log_lines(
    fault_server: FaultServer, cache: Path, mp3: bytes, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture
) -> None:
    fault_server.add("/ep.mp3", mp3)
    downloader(cache).fetch(fault_server.url("/ep.mp3"), "ep", label="Episode 1", progress=True)
    bar = capsys.readouterr().err
    assert "\r[####################]" in bar and "MB/s" in bar and "Episode 1" in bar
    caplog.set_level(logging.INFO, logger="pipeline.download")
    (cache / "ep.mp3").unlink()
    downloader(cache).fetch(fault_server.url("/ep.mp3"), "ep", label="Episode 1", progress=False)
    assert capsys.readouterr().err == ""
    assert any("Episode 1: downloaded" in r.getMessage() for r in caplog.records)
