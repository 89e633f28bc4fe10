"""`review --serve`: the review page, editable, on 127.0.0.1.

A reviewer fixes a word or a paragraph, renames a speaker across the episode, moves a chapter
heading and approves, in the page. Every save is one of `edits`' changes written through the
compare-and-swap writer: the page sends the version (SHA-256) of the file it was made from, and
a file changed on disk since then is left alone and the page says so, keeping the unsaved text.
After each save the sidecars are rebuilt (`publish`), so captions follow the fix.

Safety: the server binds 127.0.0.1 only, answers only requests whose Host is that address (no
DNS rebinding), and every request needs the per-session token printed with the address: in the
query for the pages, in an `X-Review-Token` header for writes (a header other sites cannot send
without a CORS preflight this server never grants).
"""

from __future__ import annotations

import html
import json
import logging
import secrets
import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from . import align, edits, episodes, flags, formats, publish, review, writeback
from .errors import ConcurrentEditError, PipelineError
from .models import Episode
from .workspace import Workspace

if TYPE_CHECKING:
    from .config import Settings

log = logging.getLogger("pipeline")


@dataclass(frozen=True)
class Site:
    """Everything the server needs to know about where things are and how they are written."""

    files: dict[str, Path]  # slug -> episode file
    workspace: Workspace
    episode_options: episodes.Options
    writeback: writeback.Options
    align: align.Options
    publish: publish.Options
    flags: flags.Options
    threshold: float = 0.5
    formats: formats.Options = formats.Options()


def save_voice(site: Site, slug: str, label: str, name: str) -> str:
    """Remember the voice the speaker stage heard as `label` under `name` (known voices,
    `pipeline.voices`, learnt from the episode's stored diarization); a note for the page."""
    try:
        from . import voices  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return "known voices are not available in this version: the name was saved in the text only"
    source = site.workspace.whisper_json(slug)
    try:
        profile = voices.from_transcript(name, source, label, f"{slug} (review)")
        path = voices.save(profile, site.workspace.root)
    except PipelineError as exc:
        return f"the name was saved, but not as a known voice: {exc}"
    return f"{name} saved as a known voice ({path})"


class _App:
    def __init__(self, site: Site, token: str) -> None:
        self.site = site
        self.token = token
        self.lock = threading.Lock()

    # --- reading --------------------------------------------------------------------------------

    def _load(self, slug: str) -> tuple[Episode, bytes]:
        path = self.site.files.get(slug)
        if path is None:
            raise PipelineError(f"no episode {slug!r} here")
        data = path.read_bytes()
        return episodes.parse(path, data.decode("utf-8"), self.site.episode_options, slug), data

    def audio_file(self, slug: str) -> Path | None:
        return self.site.workspace.local_audio(slug)

    def page(self, slug: str) -> str:
        episode, data = self._load(slug)
        transcript = publish.load_words(self.site.workspace, slug)
        result = publish.edited(episode, transcript, self.site.writeback, self.site.align)
        src = f"/audio/{quote(slug)}?token={self.token}" if self.audio_file(slug) else episode.audio_url
        page = review.render_page(episode, transcript, result.alignment, src, self.site.flags,
                                  self.site.threshold)
        extra = resources.files("pipeline").joinpath("templates/review-edit.html").read_text(encoding="utf-8")
        config = {"slug": slug, "token": self.token, "version": edits.version(data),
                  "speakers": edits.speakers(edits.current_body(episode.path, episode.text, self.site.episode_options),
                                             episode.speakers),
                  "state": episode.state}
        extra = extra.replace("{{config}}", json.dumps(config).replace("<", "\\u003c"))
        return page.replace("</body>", extra + "\n</body>", 1)

    def index(self) -> str:
        items = "\n".join(f'<li><a href="/episode/{quote(s)}?token={self.token}">{html.escape(s)}</a></li>'
                          for s in sorted(self.site.files))
        return (f"<!DOCTYPE html><meta charset=utf-8><title>Review</title><h1>Episodes to review</h1>"
                f"<ul>{items}</ul>")

    # --- writing --------------------------------------------------------------------------------

    def _recorded_label(self, episode: Episode, name: str) -> str:
        """The label diarization gave the voice now called `name` (renamed before, perhaps)."""
        transcript = publish.load_words(self.site.workspace, episode.slug)
        result = publish.edited(episode, transcript, self.site.writeback, self.site.align)
        spans = [(p.start, p.end) for s in result.alignment.sections for p in s.paragraphs if p.speaker == name]
        counts = Counter(w.speaker for w in transcript.words
                         if w.speaker and any(a <= w.start <= b for a, b in spans))
        return counts.most_common(1)[0][0] if counts else name

    def change(self, slug: str, action: str, args: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            episode, data = self._load(slug)
            seen = str(args.get("version", ""))
            if edits.version(data) != seen:
                raise ConcurrentEditError(f"{episode.path}: changed on disk since the page was loaded")
            notes: list[str] = []
            if action == "approve":
                writeback.approve(episode.path, self.site.episode_options)
            else:
                body = edits.current_body(episode.path, episode.text, self.site.episode_options)
                if action == "paragraph":
                    new = edits.set_paragraph(body, int(args["n"]), str(args["text"]))
                elif action == "rename":
                    new = edits.rename_speaker(body, str(args["old"]), str(args["new"]), episode.speakers)
                    label = self._recorded_label(episode, str(args["old"])) if args.get("voice") else ""
                elif action == "speaker":
                    new = edits.set_speaker(body, int(args["n"]), str(args["name"]), episode.speakers)
                elif action == "heading":
                    new = edits.move_heading(body, int(args["k"]), int(args["before"]))
                else:
                    raise PipelineError(f"unknown change {action!r}")
                edits.save(episode.path, seen, new, self.site.episode_options)
                if action == "rename" and args.get("voice"):
                    notes.append(save_voice(self.site, slug, label, str(args["new"])))
            sidecars = publish.publish(episode.path, self.site.workspace, self.site.publish,
                                       self.site.writeback, self.site.align, self.site.episode_options, slug,
                                       self.site.formats)
            log.info("%s: %s saved; rebuilt %s", episode.path, action, ", ".join(p.name for p in sidecars))
            return {"ok": True, "version": edits.version(episode.path.read_bytes()),
                    "sidecars": [str(p) for p in sidecars], "notes": notes}


def _handler(app: _App, host: str, port_box: list[int]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "pipeline-review"

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("review server: " + fmt, *args)

        def _allowed_host(self) -> bool:
            return self.headers.get("Host", "") in (f"{host}:{port_box[0]}", f"localhost:{port_box[0]}")

        def _send(self, status: int, body: bytes, kind: str, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Referrer-Policy", "no-referrer")  # the token is in the address
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, value: dict[str, Any]) -> None:
            self._send(status, json.dumps(value).encode(), "application/json")

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            url = urlsplit(self.path)
            token = parse_qs(url.query).get("token", [""])[0]
            if not self._allowed_host() or not secrets.compare_digest(token, app.token):
                self._send(403, b"forbidden: open the address the server printed (it has the token)",
                           "text/plain")
                return
            try:
                if url.path == "/":
                    self._send(200, app.index().encode(), "text/html; charset=utf-8")
                elif url.path.startswith("/episode/"):
                    self._send(200, app.page(unquote(url.path.removeprefix("/episode/"))).encode(),
                               "text/html; charset=utf-8")
                elif url.path.startswith("/audio/"):
                    self._audio(unquote(url.path.removeprefix("/audio/")))
                else:
                    self._send(404, b"not found", "text/plain")
            except PipelineError as exc:
                self._send(404, str(exc).encode(), "text/plain; charset=utf-8")

        def _audio(self, slug: str) -> None:
            path = app.audio_file(slug)
            if path is None:
                self._send(404, b"no local audio", "text/plain")
                return
            data = path.read_bytes()
            kind = "audio/mpeg" if path.suffix == ".mp3" else "application/octet-stream"
            ranged = self.headers.get("Range", "")
            if ranged.startswith("bytes="):
                first, _, last = ranged[6:].split(",")[0].partition("-")
                start = len(data) - int(last) if first == "" else int(first)
                end = len(data) - 1 if first == "" or last == "" else min(int(last), len(data) - 1)
                if start >= len(data) or start < 0:
                    self._send(416, b"", kind, {"Content-Range": f"bytes */{len(data)}"})
                    return
                self._send(206, data[start:end + 1], kind, {
                    "Accept-Ranges": "bytes", "Content-Range": f"bytes {start}-{end}/{len(data)}"})
                return
            self._send(200, data, kind, {"Accept-Ranges": "bytes"})

        def do_POST(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            token = self.headers.get("X-Review-Token", "")
            if not self._allowed_host() or not secrets.compare_digest(token, app.token):
                self._json(403, {"error": "forbidden: missing or wrong session token"})
                return
            # /api/<episode key, which may hold slashes>/<action>
            parts = url.path.strip("/").split("/")
            if len(parts) < 3 or parts[0] != "api":
                self._json(404, {"error": "not found"})
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
                args = json.loads(self.rfile.read(length) or b"{}")
                self._json(200, app.change(unquote("/".join(parts[1:-1])), parts[-1], args))
            except ConcurrentEditError as exc:
                self._json(409, {"error": str(exc)})
            except PipelineError as exc:
                self._json(400, {"error": str(exc)})
            except (ValueError, KeyError, TypeError) as exc:
                self._json(400, {"error": f"bad request: {exc}"})

    return Handler


class ReviewServer:
    """A running server: `.url` (with the token), `.serve_forever()`, `.close()`."""

    def __init__(self, site: Site, port: int = 0, host: str = "127.0.0.1") -> None:
        self.token = secrets.token_urlsafe(24)
        port_box = [port]
        self.httpd = ThreadingHTTPServer((host, port), _handler(_App(site, self.token), host, port_box))
        port_box[0] = self.httpd.server_address[1]
        self.url = f"http://{host}:{port_box[0]}/?token={self.token}"
        self.site = site

    def episode_url(self, slug: str) -> str:
        return self.url.replace("/?token=", f"/episode/{quote(slug)}?token=")

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def serve(files: list[episodes.Found], settings: Settings, port: int, say: Callable[[str], object]) -> int:
    """Serve `files` until interrupted, after saying where (the addresses carry the token)."""
    site = Site({f.key: f.path for f in files}, settings.workspace, settings.episodes,
                settings.writeback, settings.align, settings.publish, settings.flags,
                settings.render.review_threshold, settings.formats)
    server = ReviewServer(site, port)
    say(f"Review server (Ctrl+C stops it): {server.url}")
    for slug in site.files:
        say(f"  {slug}: {server.episode_url(slug)}")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
