"""Fetching episode audio: resumable, retried, verified, atomic.

`Downloader(options, cache_dir).fetch(url, name, label)` leaves `cache_dir/<name><ext>` (a
complete, verified audio file) and `cache_dir/<name><ext>.json` (where it came from, its size,
sha256 and HTTP validators). Bytes arrive in `<name><ext>.part`; only a verified file is ever
renamed to the final name, so the next stage never sees a half-written or non-audio file.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import random
import re
import sys
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
from .errors import DownloadError
from .files import write_atomic
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
    """A failure worth another attempt (network trouble, 5xx, 429)."""

    def __init__(self, cause: str, retry_after: float | None = None) -> None:
        super().__init__(cause)
        self.retry_after = retry_after


class _Fail(Exception):
    """A failure that another attempt would not fix."""


class Downloader:
    """Fetches audio into `cache_dir` over one pooled HTTP session.

    `sleep` waits between attempts; tests pass a fast or recording one.
    """

    def __init__(
        self,
        options: Options | None = None,
        cache_dir: Path = Path("transcripts/audio"),
        *,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        self.options = options or Options()
        self.cache_dir = Path(cache_dir)
        self._sleep = sleep
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
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        show_bar = sys.stderr.isatty() if progress is None else progress
        return _Fetch(self, url, name, label, show_bar).run()

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


class _Fetch:
    """One `fetch` call: its attempts, the partial file and what the server told us so far."""

    def __init__(self, dl: Downloader, url: str, name: str, label: str, show_bar: bool) -> None:
        self.dl = dl
        self.opts = dl.options
        self.url = url
        self.name = name
        self.label = label
        self.show_bar = show_bar
        self.part = dl.cache_dir / f"{name}{_url_ext(url) or '.mp3'}.part"
        self.expected: int | None = None  # the full entity's size, when the server said
        self.cached: tuple[Path, dict[str, Any]] | None = None
        self.attempts = 0
        self.use_range = True
        self.content_type: str | None = None
        # Validators of the version in the .part (saved beside it), for If-Range on resume.
        self.part_meta = self.part.with_name(self.part.name + ".json")
        self.validators: dict[str, str | None] = {"etag": None, "last_modified": None}
        if self.part.exists() and self.part_meta.exists():
            try:
                saved = json.loads(self.part_meta.read_text())
                self.validators = {k: saved.get(k) for k in self.validators}
                self.expected = saved.get("size")
            except (OSError, ValueError):
                pass
        self.final_url = url

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> Audio:
        self.cached = self._cached()
        while True:
            self.attempts += 1
            try:
                if self.cached is not None:
                    reused = self._revalidate(*self.cached)
                    if reused is not None:
                        return reused
                    return self._finish()
                return self._attempt()
            except (_Retry, _Fail) as exc:
                if self.cached is not None:
                    # Offline or the host is down: the verified copy beats failing the episode.
                    path, meta = self.cached
                    log.warning("%s: %s: could not check for changes (%s); using the cached %s",
                                self.label, self.url, exc, path)
                    return self._audio(path, meta)
                if isinstance(exc, _Fail) or self.attempts > self.opts.retries:
                    raise self._error(str(exc)) from None
                delay = self._delay(exc.retry_after)
                log.warning(
                    "%s: %s: %s; retrying in %.1f s (attempt %d of %d)",
                    self.label, self.url, exc, delay, self.attempts + 1, self.opts.retries + 1,
                )
                self.dl._sleep(delay)

    def _error(self, cause: str) -> DownloadError:
        return DownloadError(f"{self.label}: {self.url}: {cause} after {_plural(self.attempts)}")

    def _delay(self, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.opts.max_backoff)
        base = self.opts.backoff * 2.0 ** (self.attempts - 1)
        # Jitter spreads out many clients that failed together, without ever waiting 0.
        return min(self.opts.max_backoff, base * random.uniform(0.5, 1.0))

    # -- the cache --------------------------------------------------------------------------

    def _cached(self) -> tuple[Path, dict[str, Any]] | None:
        """A complete earlier download of this same URL, with its metadata."""
        for ext in AUDIO_EXTS:
            path = self.dl.cache_dir / f"{self.name}{ext}"
            meta_path = path.with_name(path.name + ".json")
            if not (path.is_file() and meta_path.is_file()):
                continue
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, ValueError):
                continue
            if meta.get("url") == self.url and path.stat().st_size == meta.get("size"):
                return path, meta
        return None

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
            if resp.status_code == 200 and self._unchanged(resp, meta):
                return self._reuse(path, meta, "same ETag/size as before")
            log.info("%s: %s changed since %s; downloading again", self.label, self.url, meta.get("fetched_at"))
            self.cached = None  # from here on, failures are about the new version
            self._receive(resp, offset=0)
        return None

    @staticmethod
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

    def _reuse(self, path: Path, meta: dict[str, Any], why: str) -> Audio:
        log.info("%s: %s: %s; using %s", self.label, self.url, why, path)
        self._drop_part()  # a stale partial of a version we no longer want
        return self._audio(path, meta)

    def _audio(self, path: Path, meta: dict[str, Any]) -> Audio:
        return Audio(path, meta.get("final_url") or self.url, meta["size"], meta["sha256"], meta.get("content_type"))

    # -- one request ------------------------------------------------------------------------

    def _attempt(self) -> Audio:
        offset = self.part.stat().st_size if self.part.exists() and self.use_range else 0
        headers = {}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            # If-Range makes a server that has a new version send it whole instead of a tail.
            validator = self.validators["etag"] or self.validators["last_modified"]
            if validator:
                headers["If-Range"] = validator
        self.use_range = True
        resp = self._get(headers)
        with resp:
            if resp.status_code == 416 and offset:
                total = _UNSATISFIED_RANGE.match(resp.headers.get("Content-Range", ""))
                if total and int(total[1]) == offset and self.expected in (None, offset):
                    return self._finish(expected=offset)  # the .part was already complete
                self._drop_part()
                has = f"has {total[1]} bytes" if total else "cannot serve that range"
                told = f"announced {self.expected} bytes but " if self.expected else ""
                raise _Retry(f"the server {told}{has} (asked for bytes {offset}-); starting over", retry_after=0)
            self._check_status(resp)
            self._receive(resp, offset)
        return self._finish()

    def _get(self, headers: dict[str, str]) -> requests.Response:
        """A streamed GET that follows redirects itself, so that a loop is seen as one."""
        opts = self.opts
        current, chain = self.url, [self.url]
        while True:
            try:
                resp = self.dl.session.get(
                    current, headers=headers, stream=True, allow_redirects=False,
                    timeout=(opts.connect_timeout, opts.read_timeout),
                )
            except requests.Timeout as exc:
                raise _Retry(f"timed out ({type(exc).__name__}) at {current}") from exc
            except requests.RequestException as exc:
                raise _Retry(f"connection failed at {current}: {_cause(exc)}") from exc
            location = resp.headers.get("Location")
            if resp.status_code not in REDIRECTS or not location:
                self.final_url = current
                return resp
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

    def _check_status(self, resp: requests.Response) -> None:
        status = f"{resp.status_code} {resp.reason or ''}".strip()
        where = "" if self.final_url == self.url else f" at {self.final_url}"
        if resp.status_code == 429 or resp.status_code >= 500:
            raise _Retry(status + where, parse_retry_after(resp.headers.get("Retry-After")))
        if resp.status_code not in (200, 206):
            raise _Fail(status + where)
        content_type = resp.headers.get("Content-Type")
        if is_text_type(content_type):
            self._drop_part()
            raise _Fail(f"not audio: the server sent {content_type}{where}")

    def _receive(self, resp: requests.Response, offset: int) -> None:
        """Stream the body into the .part: appended after a matching 206, from scratch on 200."""
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
                self._drop_part()
                self.use_range = False
                raise _Retry(
                    f"206 with Content-Range {resp.headers.get('Content-Range')!r} does not continue "
                    f"byte {offset}; starting over", retry_after=0,
                )
            total: int | None = span[2] if span[2] is not None else span[1] + 1
            mode = "ab"
        else:
            if offset:
                log.info("%s: %s ignored the range request; downloading from the start", self.label, self.final_url)
            offset, total, mode = 0, length_n, "wb"
        if total is not None and total > self.opts.max_bytes:
            self._drop_part()
            raise _Fail(f"too large: {total} bytes announced, the limit is {self.opts.max_bytes}")

        self.expected = total
        self.content_type = resp.headers.get("Content-Type") or self.content_type
        told = {"etag": resp.headers.get("ETag"), "last_modified": resp.headers.get("Last-Modified")}
        if mode == "wb" or not any(self.validators.values()):
            self.validators = told
        bar = _Progress(self.label, total, offset, self.show_bar)
        received = offset
        try:
            with self.part.open(mode) as out:
                if mode == "wb":  # only once the old partial is gone
                    write_atomic(self.part_meta, json.dumps({**self.validators, "size": total}) + "\n")
                for chunk in resp.raw.stream(self.opts.chunk_bytes, decode_content=False):
                    if received == 0 and sniff(chunk[:16]) is None and len(chunk) >= 12:
                        raise self._not_audio(chunk)  # do not download a whole error page
                    received += len(chunk)
                    if received > self.opts.max_bytes:
                        out.close()
                        self._drop_part()
                        raise _Fail(f"too large: more than the limit of {self.opts.max_bytes} bytes")
                    out.write(chunk)
                    bar.update(received)
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
            bar.close()
            raise _Retry(
                f"connection dropped after {received}"
                + (f" of {total}" if total is not None else "")
                + f" bytes ({type(exc).__name__})"
            ) from exc
        bar.close()
        if total is not None and received < total:
            raise _Retry(f"the body ended after {received} of {total} bytes")
        if total is not None and received > total:
            self._drop_part()
            raise _Fail(f"received {received} bytes, more than the {total} announced")

    def _drop_part(self) -> None:
        self.part.unlink(missing_ok=True)
        self.part_meta.unlink(missing_ok=True)

    def _not_audio(self, head: bytes) -> _Fail:
        self._drop_part()
        return _Fail(f"not audio: the content starts with {head[:16]!r}")

    # -- finishing --------------------------------------------------------------------------

    def _finish(self, expected: int | None = None) -> Audio:
        """Verify the .part, then rename it and write its metadata, each atomically."""
        expected = expected if expected is not None else self.expected
        size = self.part.stat().st_size
        with self.part.open("rb") as fh:
            head = fh.read(16)
        if expected is not None and size != expected:
            self._drop_part()
            raise _Fail(f"size {size} does not match Content-Length {expected}")
        if size > self.opts.max_bytes:
            self._drop_part()
            raise _Fail(f"too large: {size} bytes, the limit is {self.opts.max_bytes}")
        if is_text_type(self.content_type):
            self._drop_part()
            raise _Fail(f"not audio: the server sent {self.content_type}")
        if sniff(head) is None:
            raise self._not_audio(head)

        ext = (
            _url_ext(self.url) or _url_ext(self.final_url)
            or TYPE_EXTS.get(_mime(self.content_type)) or ".mp3"
        )
        final = self.dl.cache_dir / f"{self.name}{ext}"
        sha256 = sha256_of(self.part)
        os.replace(self.part, final)
        self.part_meta.unlink(missing_ok=True)
        meta = {
            "url": self.url,
            "final_url": self.final_url,
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
                stale = self.dl.cache_dir / f"{self.name}{other}"
                stale.unlink(missing_ok=True)
                stale.with_name(stale.name + ".json").unlink(missing_ok=True)
        log.info("%s: downloaded %s (%s) after %s", self.label, final, _mb(size), _plural(self.attempts))
        return Audio(final, self.final_url, size, sha256, self.content_type)




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


def _cause(exc: Exception) -> str:
    """The innermost reason, not urllib3's nested reprs: 'cannot resolve host x', 'refused'."""
    text = str(exc)
    if "NameResolutionError" in text or "Name or service not known" in text:
        request = getattr(exc, "request", None)
        return f"cannot resolve host {urlsplit(request.url).hostname if request else ''}".strip()
    if "Connection refused" in text:
        return "connection refused"
    if "RemoteDisconnected" in text or "Connection aborted" in text:
        return "the server closed the connection"
    return text if len(text) < 200 else text[:200] + "..."
