"""Text from outside the grader's control (student output, exception messages, file names), made safe once.

Whatever crosses from the sandbox or from a file name is cleaned here before anything else reads it:
valid Unicode that encodes as UTF-8 (lone surrogates replaced), no control characters but newline and
tab, no invisible characters that reorder or hide text, and a bounded length. Reports, logs, JSON and XML can then take it as it is.
"""

from __future__ import annotations

import re

#: Control characters but newline and tab, lone surrogates, non-characters, and the invisible format characters that
#: change what text looks like: bidirectional overrides, embeddings, isolates and marks (``mallory\u202eecila`` showed
#: as "malloryalice" in the summary), zero-width and word-joining characters (``alice\u200b`` as a second "alice"),
#: the soft hyphen, interlinear annotations and tags.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064"
                     "\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb\ufffe\uffff\U000e0000-\U000e007f]")


def clean_text(text: str, limit: int | None = 8192) -> str:
    """``text`` with unsafe characters replaced by U+FFFD and cut to ``limit`` characters (None: no cut), saying so."""
    if not isinstance(text, str):
        text = str(text)
    cut = len(text) - limit if limit is not None else 0
    if cut > 0:
        text = text[:limit]
    text = _UNSAFE.sub("\ufffd", text.replace("\r\n", "\n"))
    return f"{text}\n... ({cut} more characters not shown)" if cut > 0 else text


def clean_line(text: str, limit: int = 200) -> str:
    """One line for a log, a table cell or a file name: also no newline or tab."""
    return clean_text(text, limit).replace("\n", "\u2424").replace("\t", " ")
