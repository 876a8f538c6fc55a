"""File names in a turn: a closed grammar (quoted, or one token ending in an image or video extension)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

MediaKind = Literal["image", "video"]

IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "webp")
VIDEO_EXTENSIONS = ("mp4", "mov", "webm", "mkv", "avi")
_EXT = "|".join(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)

# A quoted path may hold spaces; an unquoted one is one token (letters, digits, ~ . / \ - _ :).
_QUOTED_PATH = re.compile(rf"""(["'`])([^"'`\n]*?\.(?:{_EXT}))\1""", re.IGNORECASE)
_BARE_PATH = re.compile(rf"(?<![\w.~/\\-])((?:[A-Za-z]:)?[\w~./\\-]*[\w-]\.(?:{_EXT}))(?![\w])", re.IGNORECASE)


@dataclass
class PathMention:
    path: str
    kind: MediaKind
    start: int
    end: int


def find_paths(text: str) -> list[PathMention]:
    """Image and video file names in ``text``, in order; kept whether or not the files exist."""
    found: list[PathMention] = []
    taken: list[tuple[int, int]] = []
    for pattern, group in ((_QUOTED_PATH, 2), (_BARE_PATH, 1)):
        for match in pattern.finditer(text):
            if any(start <= match.start() < end for start, end in taken):
                continue
            path = match.group(group).strip()
            kind: MediaKind = "image" if path.lower().rsplit(".", 1)[-1] in IMAGE_EXTENSIONS else "video"
            found.append(PathMention(path, kind, match.start(), match.end()))
            taken.append((match.start(), match.end()))
    return sorted(found, key=lambda p: p.start)


def blank_paths(text: str, paths: list[PathMention]) -> str:
    """``text`` with each file name blanked (same length), so nothing else reads inside it ("clip2.mp4" is no
    "clip 2")."""
    for mention in paths:
        text = text[: mention.start] + " " * (mention.end - mention.start) + text[mention.end :]
    return text


def mask_paths(text: str, paths: list[PathMention], video: str = "this video", image: str = "this image") -> str:
    """``text`` with each file name replaced by a phrase (for the embedding and the prompt)."""
    for mention in sorted(paths, key=lambda p: p.start, reverse=True):
        phrase = image if mention.kind == "image" else video
        text = text[: mention.start] + phrase + text[mention.end :]
    return re.sub(r"\s+", " ", text).strip()
