"""Fetching episode audio: resumable, retried, verified, atomic, and never endless.

`Downloader(options, cache_dir).fetch(url, name, label)` leaves `cache_dir/<name><ext>` (a
complete, verified audio file) and `cache_dir/<name><ext>.json` (where it came from, its size,
sha256 and HTTP validators); `name` is the episode's key and may hold folders. Bytes arrive in
`<name><ext>.part`; only a verified file is ever renamed to the final name, so the next stage
never sees a half-written or non-audio file, and a cached file is used only while its bytes
still match the sha256 recorded for it.

One fetch is a few steps, each its own piece below: the cached copy (`_cached`, revalidated
with the server), one request with its redirects (`_request`, `_check_status`), the body into
the partial file (`_Part.receive`), and the verified rename (`_Part.finish`). `_Fetch` runs
them in a retry loop under a `_Budget`:
- a transfer slower than `min_speed` bytes/s over `stall_seconds` is a stall (as curl's
  `--speed-limit`/`--speed-time`), retried from where it stopped;
- one episode's audio may take `episode_deadline` seconds in all, attempts and waits included;
- `Downloader.cancel()` (Ctrl-C) stops waiting and transferring;
- permanent failures fail at once: a 4xx answer, a host name that does not resolve, a TLS
  certificate error, a refused scheme; a full disk is reported as such, never as a network
  error. Only network trouble, 5xx and 429 are retried.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import random
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from .audio import sha256_of
from .errors import DownloadError, StorageError
from .files import confined, storage_error, write_atomic
from .models import Audio

log = logging.getLogger("pipeline.download")


@dataclass(frozen=True)
class Options:
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 5  # further attempts after the first
    backoff: float = 1.0  # first retry delay in seconds, doubled each time (with jitter)
    max_backoff: float = 60.0  # also caps Retry-After
    max_redirects: int = 10
    max_bytes: int = 2_000_000_000
    chunk_bytes: int = 1 << 16
    min_speed: int = 1000  # bytes/s: slower than this for `stall_seconds` is a stall (0: off)
    stall_seconds: float = 30.0
    episode_deadline: float = 3600.0  # seconds for one episode's audio, every attempt together


AUDIO_EXTS = (".mp3", ".m4a", ".m4b", ".mp4", ".aac", ".ogg", ".oga", ".opus", ".wav", ".flac")
TYPE_EXTS = {
    "audio/mpeg": ".mp3",
    "audio/mp3": ".mp3",
    "audio/mpeg3": ".mp3",
    "audio/x-mpeg": ".mp3",
    "audio/mp4": ".m4a",
    "audio/x-m4a": ".m4a",
    "audio/m4a": ".m4a",
    "video/mp4": ".mp4",
    "audio/aac": ".aac",
    "audio/ogg": ".ogg",
    "audio/opus": ".opus",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/wave": ".wav",
    "audio/flac": ".flac",
    "audio/x-flac": ".flac",
}
# Types that are never audio, however the file is named: error pages, API answers.
NOT_AUDIO_TYPES = ("application/json", "application/xhtml+xml", "application/xml")
REDIRECTS = (301, 302, 303, 307, 308)


def sniff(head: bytes) -> str | None:
    """The audio container the first bytes announce, or None when they are not audio."""
    if head[:3] == b"ID3":
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "mpeg"  # MPEG audio frame sync (mp3 without ID3 tag, ADTS AAC)
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    return None


def is_text_type(content_type: str | None) -> bool:
    mime = _mime(content_type)
    return mime.startswith("text/") or mime in NOT_AUDIO_TYPES


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.I)
_UNSATISFIED_RANGE = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.I)


def parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """`bytes 100-199/1000` -> (100, 199, 1000); an unknown total is None."""
    m = _CONTENT_RANGE.match(value or "")
    if not m:
        return None
    return int(m[1]), int(m[2]), None if m[3] == "*" else int(m[3])


def _mime(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _url_ext(url: str) -> str | None:
    suffix = Path(urlsplit(url).path).suffix.lower()
    return suffix if suffix in AUDIO_EXTS else None


def _check_scheme(url: str) -> str | None:
    """Why `url` cannot be fetched, or None when it is a usable http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        scheme = f"{parts.scheme}:" if parts.scheme else "a bare path"
        return f"only http and https URLs can be downloaded, not {scheme}"
    if not parts.netloc:
        return "the URL has no host"
    return None


def _plural(n: int) -> str:
    return f"{n} attempt" if n == 1 else f"{n} attempts"


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


class _Retry(Exception):
    """A failure worth another attempt (network trouble, a stall, 5xx, 429)."""

    def __init__(self, cause: str, retry_after: float | None = None) -> None:
        super().__init__(cause)
        self.retry_after = retry_after


class _Fail(Exception):
    """A failure that another attempt would not fix."""


class Downloader:
    """Fetches audio into `cache_dir` over one pooled HTTP session.

    `sleep` waits between attempts; tests pass a fast or recording one. `cancel()`, from any
    thread, makes every fetch in progress stop.
    """

    def __init__(
        self,
        options: Options | None = None,
        cache_dir: Path = Path("transcripts/audio"),
        *,
        sleep: Callable[[float], None] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.options = options or Options()
        self.cache_dir = Path(cache_dir)
        self._sleep = sleep
        self.cancelled = threading.Event()
        self.session = session or requests.Session()
        # Identity encoding keeps the bytes on disk equal to the entity that Content-Length and
        # Content-Range describe; audio does not compress anyway.
        self.session.headers.update(
            {"User-Agent": "podcast-transcripts/0.1", "Accept-Encoding": "identity"}
        )

    def fetch(
        self, url: str, name: str, label: str | None = None, progress: bool | None = None
    ) -> Audio:
        """The audio at `url` as a verified file `cache_dir/<name><ext>`; raises DownloadError."""
        label = label or name
        why = _check_scheme(url)
        if why:
            raise DownloadError(f"{label}: {url}: {why}")
        show_bar = sys.stderr.isatty() if progress is None else progress
        return _Fetch(self, url, name, label, show_bar).run()

    def cancel(self) -> None:
        self.cancelled.set()

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Downloader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --- the budget ---------------------------------------------------------------------------------


class _Budget:
    """The time one fetch may still take, and the cancel switch; checked between every step."""

    def __init__(self, opts: Options, cancelled: threading.Event, sleep: Callable[[float], None] | None) -> None:
        self.opts, self.cancelled, self._sleep = opts, cancelled, sleep
        self.until = time.monotonic() + opts.episode_deadline

    def left(self) -> float:
        return self.until - time.monotonic()

    def check(self) -> None:
        if self.cancelled.is_set():
            raise _Fail("interrupted")
        if self.left() <= 0:
            raise _Fail(f"not done within the deadline of {self.opts.episode_deadline:g} s (episode_deadline)")

    def timeouts(self) -> tuple[float, float]:
        """Socket timeouts: silence longer than the stall window is a stall too."""
        left = max(0.05, self.left())
        read = min(self.opts.read_timeout, self.opts.stall_seconds) if self.opts.min_speed else self.opts.read_timeout
        return min(self.opts.connect_timeout, left), min(read, left)

    def sleep(self, delay: float) -> None:
        self.check()
        if delay >= self.left():
            raise _Fail(f"would pass the deadline of {self.opts.episode_deadline:g} s (episode_deadline) "
                        f"waiting {delay:.0f} s to retry")
        if self._sleep is not None:
            self._sleep(delay)
        else:
            self.cancelled.wait(delay)
        self.check()


class _Meter:
    """curl's --speed-limit/--speed-time: fewer than `min_speed` bytes/s over a whole window."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.start = time.monotonic()
        self.bytes = 0

    def add(self, n: int) -> None:
        if not self.opts.min_speed:
            return
        self.bytes += n
        now = time.monotonic()
        span = now - self.start
        if span >= self.opts.stall_seconds:
            rate = self.bytes / span
            if rate < self.opts.min_speed:
                raise _Retry(f"stalled: {rate:.0f} bytes/s over {span:.0f} s, below the minimum of "
                             f"{self.opts.min_speed} bytes/s (min_speed, stall_seconds)")
            self.start, self.bytes = now, 0


# --- one fetch ----------------------------------------------------------------------------------


class _Fetch:
    """One `fetch` call: the retry loop around the cached copy, requests and the partial file."""

    def __init__(self, dl: Downloader, url: str, name: str, label: str, show_bar: bool) -> None:
        self.dl, self.opts = dl, dl.options
        self.url, self.name, self.label = url, name, label
        self.budget = _Budget(dl.options, dl.cancelled, dl._sleep)
        self.part = _Part(self, confined(dl.cache_dir, f"{name}{_url_ext(url) or '.mp3'}.part"), show_bar)
        self.attempts = 0
        self.final_url = url

    def run(self) -> Audio:
        try:
            self.part.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(self.part.path.parent, exc) from exc
        cached = _cached(self.dl.cache_dir, self.name, self.url, self.label)
        while True:
            self.attempts += 1
            try:
                self.budget.check()
                if cached is not None:
                    reused = self._revalidate(*cached)
                    if reused is not None:
                        return reused
                    cached = None
                    return self.part.finish()
                return self._attempt()
            except (_Retry, _Fail) as exc:
                if cached is not None and not self.dl.cancelled.is_set():
                    # Offline or the host is down: the verified copy beats failing the episode.
                    path, meta = cached
                    log.warning("%s: %s: could not check for changes (%s); using the cached %s",
                                self.label, self.url, exc, path)
                    return _audio(path, meta, self.url)
                if isinstance(exc, _Fail) or self.attempts > self.opts.retries:
                    raise self._error(str(exc)) from None
                delay = self._delay(exc.retry_after)
                log.warning(
                    "%s: %s: %s; retrying in %.1f s (attempt %d of %d)",
                    self.label, self.url, exc, delay, self.attempts + 1, self.opts.retries + 1,
                )
                try:
                    self.budget.sleep(delay)
                except _Fail as stop:
                    raise self._error(f"{exc}; {stop}") from None

    def _error(self, cause: str) -> DownloadError:
        return DownloadError(f"{self.label}: {self.url}: {cause} after {_plural(self.attempts)}")

    def _delay(self, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.opts.max_backoff)
        base: float = self.opts.backoff * 2.0 ** (self.attempts - 1)
        # Jitter spreads out many clients that failed together, without ever waiting 0.
        return min(self.opts.max_backoff, base * random.uniform(0.5, 1.0))

    def _revalidate(self, path: Path, meta: dict[str, Any]) -> Audio | None:
        """Ask whether the remote changed; the Audio to reuse, or None after streaming the new body."""
        headers = {}
        if meta.get("etag"):
            headers["If-None-Match"] = meta["etag"]
        if meta.get("last_modified"):
            headers["If-Modified-Since"] = meta["last_modified"]
        resp = self._get(headers)
        with resp:
            if resp.status_code == 304:
                return self._reuse(path, meta, "not modified (304)")
            self._check_status(resp)
            if resp.status_code == 200 and _unchanged(resp, meta):
                return self._reuse(path, meta, "same ETag/size as before")
            log.info("%s: %s changed since %s; downloading again", self.label, self.url, meta.get("fetched_at"))
            self.part.receive(resp, offset=0)
        return None

    def _reuse(self, path: Path, meta: dict[str, Any], why: str) -> Audio:
        log.info("%s: %s: %s; using %s", self.label, self.url, why, path)
        self.part.drop()  # a stale partial of a version we no longer want
        return _audio(path, meta, self.url)

    def _attempt(self) -> Audio:
        offset, headers = self.part.resume_headers()
        resp = self._get(headers)
        with resp:
            if resp.status_code == 416 and offset:
                total = _UNSATISFIED_RANGE.match(resp.headers.get("Content-Range", ""))
                if total and int(total[1]) == offset and self.part.expected in (None, offset):
                    return self.part.finish(expected=offset)  # the .part was already complete
                self.part.drop()
                has = f"has {total[1]} bytes" if total else "cannot serve that range"
                told = f"announced {self.part.expected} bytes but " if self.part.expected else ""
                raise _Retry(f"the server {told}{has} (asked for bytes {offset}-); starting over", retry_after=0)
            self._check_status(resp)
            self.part.receive(resp, offset)
        return self.part.finish()

    def _get(self, headers: dict[str, str]) -> requests.Response:
        resp, self.final_url = _request(self.dl.session, self.url, headers, self.opts, self.budget)
        return resp

    def _check_status(self, resp: requests.Response) -> None:
        status = f"{resp.status_code} {resp.reason or ''}".strip()
        where = "" if self.final_url == self.url else f" at {self.final_url}"
        if resp.status_code == 429 or resp.status_code >= 500:
            raise _Retry(status + where, parse_retry_after(resp.headers.get("Retry-After")))
        if resp.status_code not in (200, 206):
            raise _Fail(status + where)
        content_type = resp.headers.get("Content-Type")
        if is_text_type(content_type):
            self.part.drop()
            raise _Fail(f"not audio: the server sent {content_type}{where}")


def _request(
    session: requests.Session, url: str, headers: dict[str, str], opts: Options, budget: _Budget
) -> tuple[requests.Response, str]:
    """A streamed GET that follows redirects itself, so that a loop is seen as one."""
    current, chain = url, [url]
    while True:
        budget.check()
        try:
            resp = session.get(current, headers=headers, stream=True, allow_redirects=False,
                               timeout=budget.timeouts())
        except requests.Timeout as exc:
            raise _Retry(f"timed out ({type(exc).__name__}) at {current}") from exc
        except (requests.exceptions.SSLError, requests.exceptions.InvalidURL,
                requests.exceptions.InvalidSchema, requests.exceptions.InvalidHeader) as exc:
            raise _Fail(f"at {current}: {_cause(exc)}") from exc
        except requests.RequestException as exc:
            cause = _cause(exc)
            if cause.startswith("cannot resolve host"):
                raise _Fail(f"{cause} (at {current})") from exc
            raise _Retry(f"connection failed at {current}: {cause}") from exc
        location = resp.headers.get("Location")
        if resp.status_code not in REDIRECTS or not location:
            return resp, current
        resp.close()
        target = urljoin(current, location)
        if target in chain:
            raise _Fail(f"redirect loop: {' -> '.join([*chain, target])}")
        if _check_scheme(target):
            raise _Fail(f"redirected to {target}: {_check_scheme(target)}")
        chain.append(target)
        if len(chain) - 1 > opts.max_redirects:
            raise _Fail(f"too many redirects (more than {opts.max_redirects}): {' -> '.join(chain)}")
        current = target


# --- the cached copy ----------------------------------------------------------------------------


def _cached(cache_dir: Path, name: str, url: str, label: str) -> tuple[Path, dict[str, Any]] | None:
    """A complete earlier download of this same URL whose bytes still match its recorded hash."""
    for ext in AUDIO_EXTS:
        path = confined(cache_dir, f"{name}{ext}")
        meta_path = path.with_name(path.name + ".json")
        if not (path.is_file() and meta_path.is_file()):
            continue
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(meta, dict) or meta.get("url") != url or path.stat().st_size != meta.get("size"):
            continue
        if sha256_of(path) != meta.get("sha256"):
            log.warning("%s: %s no longer matches the sha256 recorded when it was downloaded; "
                        "downloading again", label, path)
            continue
        return path, meta
    return None


def _unchanged(resp: requests.Response, meta: dict[str, Any]) -> bool:
    etag = resp.headers.get("ETag")
    if meta.get("etag") and etag:
        return bool(etag == meta["etag"])
    if meta.get("etag") or meta.get("last_modified"):
        # Validators were recorded, yet the server answered 200 to the conditional request.
        last_modified = resp.headers.get("Last-Modified")
        return bool(last_modified and last_modified == meta.get("last_modified")
                    and resp.headers.get("Content-Length") == str(meta.get("size")))
    return resp.headers.get("Content-Length") == str(meta.get("size"))


def _audio(path: Path, meta: dict[str, Any], url: str) -> Audio:
    return Audio(path, meta.get("final_url") or url, meta["size"], meta["sha256"], meta.get("content_type"))


# --- the partial file ---------------------------------------------------------------------------


class _Part:
    """`<name><ext>.part` and what the server told us about the version in it."""

    def __init__(self, fetch: _Fetch, path: Path, show_bar: bool) -> None:
        self.fetch, self.opts, self.path, self.show_bar = fetch, fetch.opts, path, show_bar
        self.expected: int | None = None  # the full entity's size, when the server said
        self.use_range = True
        self.content_type: str | None = None
        # Validators of the version in the .part (saved beside it), for If-Range on resume.
        self.meta = path.with_name(path.name + ".json")
        self.validators: dict[str, str | None] = {"etag": None, "last_modified": None}
        if path.exists() and self.meta.exists():
            try:
                saved = json.loads(self.meta.read_text())
                self.validators = {k: saved.get(k) for k in self.validators}
                self.expected = saved.get("size")
            except (OSError, ValueError, AttributeError):
                pass

    def resume_headers(self) -> tuple[int, dict[str, str]]:
        offset = self.path.stat().st_size if self.path.exists() and self.use_range else 0
        headers = {}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            # If-Range makes a server that has a new version send it whole instead of a tail.
            validator = self.validators["etag"] or self.validators["last_modified"]
            if validator:
                headers["If-Range"] = validator
        self.use_range = True
        return offset, headers

    def receive(self, resp: requests.Response, offset: int) -> None:
        """Stream the body in: appended after a matching 206, from scratch on 200."""
        length = resp.headers.get("Content-Length")
        length_n = int(length) if length and length.isdigit() else None
        if resp.status_code == 206:
            span = parse_content_range(resp.headers.get("Content-Range"))
            consistent = (
                offset > 0 and span is not None and span[0] == offset
                and (span[2] is None or span[1] == span[2] - 1)
                and (length_n is None or length_n == span[1] - span[0] + 1)
                and (self.expected is None or span[2] in (None, self.expected))
            )
            if not consistent or span is None:
                self.drop()
                self.use_range = False
                raise _Retry(
                    f"206 with Content-Range {resp.headers.get('Content-Range')!r} does not continue "
                    f"byte {offset}; starting over", retry_after=0,
                )
            total: int | None = span[2] if span[2] is not None else span[1] + 1
            mode = "ab"
        else:
            if offset:
                log.info("%s: %s ignored the range request; downloading from the start",
                         self.fetch.label, self.fetch.final_url)
            offset, total, mode = 0, length_n, "wb"
        if total is not None and total > self.opts.max_bytes:
            self.drop()
            raise _Fail(f"too large: {total} bytes announced, the limit is {self.opts.max_bytes}")

        self.expected = total
        self.content_type = resp.headers.get("Content-Type") or self.content_type
        told = {"etag": resp.headers.get("ETag"), "last_modified": resp.headers.get("Last-Modified")}
        if mode == "wb" or not any(self.validators.values()):
            self.validators = told
        received = self._stream(resp, offset, total, mode)
        if total is not None and received < total:
            raise _Retry(f"the body ended after {received} of {total} bytes")
        if total is not None and received > total:
            self.drop()
            raise _Fail(f"received {received} bytes, more than the {total} announced")

    def _stream(self, resp: requests.Response, offset: int, total: int | None, mode: str) -> int:
        """Bytes as they come (read1: a drip of one byte a second is seen, not waited for)."""
        bar = _Progress(self.fetch.label, total, offset, self.show_bar)
        meter = _Meter(self.opts)
        received = offset
        try:
            out = self.path.open(mode)
        except OSError as exc:
            raise self._disk(exc) from exc
        with out:
            if mode == "wb":  # only once the old partial is gone
                try:
                    write_atomic(self.meta, json.dumps({**self.validators, "size": total}) + "\n")
                except StorageError:
                    out.close()
                    self.drop()
                    raise
            while True:
                self.fetch.budget.check()
                try:
                    chunk = resp.raw.read1(self.opts.chunk_bytes, decode_content=False)
                except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
                    bar.close()
                    raise _Retry(
                        f"connection dropped after {received}" + (f" of {total}" if total is not None else "")
                        + f" bytes ({type(exc).__name__})"
                    ) from exc
                if not chunk:
                    break
                if received == 0 and sniff(chunk[:16]) is None and len(chunk) >= 12:
                    raise self._not_audio(chunk)  # do not download a whole error page
                received += len(chunk)
                if received > self.opts.max_bytes:
                    out.close()
                    self.drop()
                    raise _Fail(f"too large: more than the limit of {self.opts.max_bytes} bytes")
                try:
                    out.write(chunk)
                except OSError as exc:
                    out.close()
                    raise self._disk(exc) from exc
                bar.update(received)
                meter.add(len(chunk))
        bar.close()
        return received

    def _disk(self, exc: OSError) -> StorageError:
        """A write that failed is about this machine, not the network: no retry, no partial file."""
        self.drop()
        return storage_error(self.path, exc)

    def drop(self) -> None:
        self.path.unlink(missing_ok=True)
        self.meta.unlink(missing_ok=True)

    def _not_audio(self, head: bytes) -> _Fail:
        self.drop()
        return _Fail(f"not audio: the content starts with {head[:16]!r}")

    def finish(self, expected: int | None = None) -> Audio:
        """Verify the .part, then rename it and write its metadata, each atomically."""
        expected = expected if expected is not None else self.expected
        size = self.path.stat().st_size
        with self.path.open("rb") as fh:
            head = fh.read(16)
        if expected is not None and size != expected:
            self.drop()
            raise _Fail(f"size {size} does not match Content-Length {expected}")
        if size > self.opts.max_bytes:
            self.drop()
            raise _Fail(f"too large: {size} bytes, the limit is {self.opts.max_bytes}")
        if is_text_type(self.content_type):
            self.drop()
            raise _Fail(f"not audio: the server sent {self.content_type}")
        if sniff(head) is None:
            raise self._not_audio(head)

        f = self.fetch
        ext = _url_ext(f.url) or _url_ext(f.final_url) or TYPE_EXTS.get(_mime(self.content_type)) or ".mp3"
        final = confined(f.dl.cache_dir, f"{f.name}{ext}")
        try:
            sha256 = sha256_of(self.path)
            os.replace(self.path, final)
        except OSError as exc:
            raise self._disk(exc) from exc
        self.meta.unlink(missing_ok=True)
        meta = {
            "url": f.url,
            "final_url": f.final_url,
            "size": size,
            "sha256": sha256,
            "etag": self.validators["etag"],
            "last_modified": self.validators["last_modified"],
            "content_type": self.content_type,
            "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        write_atomic(final.with_name(final.name + ".json"), json.dumps(meta, indent=2) + "\n")
        for other in AUDIO_EXTS:  # an older download of this episode in another format
            if other != ext:
                stale = confined(f.dl.cache_dir, f"{f.name}{other}")
                stale.unlink(missing_ok=True)
                stale.with_name(stale.name + ".json").unlink(missing_ok=True)
        log.info("%s: downloaded %s (%s) after %s", f.label, final, _mb(size), _plural(f.attempts))
        return Audio(final, f.final_url, size, sha256, self.content_type)




class _Progress:
    """A one-line bar (bytes, rate, ETA) on a terminal; a log line every few seconds otherwise."""

    def __init__(self, label: str, total: int | None, start: int, bar: bool) -> None:
        self.label, self.total, self.start, self.bar = label, total, start, bar
        self.t0 = self.last = time.monotonic()
        self.done = start
        self.every = 0.1 if bar else 5.0

    def update(self, done: int) -> None:
        self.done = done
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self._show(now)

    def _show(self, now: float, final: bool = False) -> None:
        rate = (self.done - self.start) / max(now - self.t0, 1e-6)
        if self.total:
            share = f"{_mb(self.done)} of {_mb(self.total)} ({100 * self.done / self.total:.0f}%)"
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            eta_s = f"ETA {int(eta) // 60}:{int(eta) % 60:02d}" if eta != float("inf") else "ETA ?"
        else:
            share, eta_s = _mb(self.done), ""
        line = f"{self.label}: {share} {rate / 1e6:.2f} MB/s {eta_s}".rstrip()
        if self.bar:
            filled = int(20 * self.done / self.total) if self.total else 0
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (20 - filled)}] {line}\x1b[K" + ("\n" if final else ""))
            sys.stderr.flush()
        else:
            log.info("%s", line)

    def close(self) -> None:
        if self.bar:
            self._show(time.monotonic(), final=True)


def _cause(exc: requests.RequestException) -> str:
    """The innermost reason, not urllib3's nested reprs: 'cannot resolve host x', 'refused'."""
    text = str(exc)
    if "NameResolutionError" in text or "Name or service not known" in text:
        url = exc.request.url if exc.request is not None else None
        host = urlsplit(url).hostname if isinstance(url, str) else None
        return f"cannot resolve host {host or ''}".strip()
    if "Connection refused" in text:
        return "connection refused"
    if "RemoteDisconnected" in text or "Connection aborted" in text:
        return "the server closed the connection"
    return text if len(text) < 200 else text[:200] + "..."
