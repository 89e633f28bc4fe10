"""Every error the pipeline raises on purpose.

PipelineError
 ├── EpisodeError       an episode file that cannot be read or understood
 ├── DownloadError      the audio could not be fetched or is not audio
 ├── AudioError         the audio cannot be decoded, is empty, or has no speech
 ├── TranscribeError    an engine or model failed
 ├── WritebackError     the episode file could not be updated safely
 │    ├── HumanTranscriptError   the transcript was written or edited by a person
 │    └── ConcurrentEditError    the file changed on disk since it was read
 ├── ConfigError        a bad setting in pyproject.toml or on the command line
 ├── VoiceProfileError  a known voice that cannot be learned, read or found
 ├── LockedError        another run holds the lock
 ├── PathError          a path that would lead outside its folder
 └── StorageError       a file could not be written (a full disk, no permission)

Each class's docstring is its message; the argument, when given, says which file or URL.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Pipeline failed"""

    def __init__(self, detail: str = "") -> None:
        self.detail = detail
        doc = (type(self).__doc__ or "").strip()
        super().__init__(f"{doc}: {detail}" if detail else doc)


class EpisodeError(PipelineError):
    """Bad episode file"""


class DownloadError(PipelineError):
    """Download failed"""


class AudioError(PipelineError):
    """Unusable audio"""


class TranscribeError(PipelineError):
    """Transcription failed"""


class WritebackError(PipelineError):
    """Could not write the transcript"""


class HumanTranscriptError(WritebackError):
    """Left alone: the transcript was written or edited by a person"""


class ConcurrentEditError(WritebackError):
    """Aborted: the file changed on disk while the pipeline worked on it"""


class ConfigError(PipelineError):
    """Bad setting"""


class VoiceProfileError(PipelineError):
    """Voice profile"""


class LockedError(PipelineError):
    """Another pipeline run is in progress (lock held)"""


class PathError(PipelineError):
    """Refused: the path leads outside its folder"""


class StorageError(PipelineError):
    """Cannot write"""
