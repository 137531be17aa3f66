"""LMS downloads read as hostile archives: names, kinds, sizes and counts are checked before a byte is used.

Nothing is ever extracted by its name: an entry's bytes are returned with its cleaned name and stored by content hash,
so a ``../`` path or a link cannot place a file anywhere. Such entries are still refused and listed, since an LMS
never writes them. A zip inside the download (a student who zipped their notebook) is read the same way, once deep.
"""

from __future__ import annotations

import io
import stat
import zipfile
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

MAX_ENTRIES = 20_000
MAX_ENTRY_BYTES = 50_000_000  # a notebook the grader would read at all (the extraction limit)
MAX_TOTAL_BYTES = 2_000_000_000
MAX_DEPTH = 2  # the download, and a zip inside it
ZIP_LIMIT = 4_000_000_000  # bytes of a download file


class ArchiveError(Exception):
    """The whole archive cannot be read (corrupt, too large, too many entries)."""


def kept_whole(name: str) -> bool:
    """Whether a file's bytes are read when collecting: a notebook, or a zip that may hold notebooks."""
    return name.lower().endswith((".ipynb", ".zip"))


def _entry_time(info: zipfile.ZipInfo) -> datetime | None:
    try:
        return datetime(*info.date_time)
    except ValueError:
        return None


@dataclass(frozen=True)
class Entry:
    """One file of an archive: its name inside (a nested zip's as ``outer.zip/inner``) and its bytes."""

    name: str
    data: bytes
    modified: datetime | None  # the entry's own time, without a zone (zip keeps local time)


@dataclass(frozen=True)
class Refused:
    name: str
    why: str


def _unsafe_name(name: str) -> str:
    """Why a name could not be a relative path inside the target, or ""."""
    if "\x00" in name:
        return "a NUL byte in its name"
    posix = name.replace("\\", "/")
    if posix.startswith("/") or (len(posix) > 1 and posix[1] == ":"):
        return "an absolute path"
    if ".." in PurePosixPath(posix).parts:
        return "a path that climbs out with '..' (zip slip)"
    return ""


def _kind(info: zipfile.ZipInfo) -> str:
    """Why an entry is not a plain file or folder, from the Unix file type its maker recorded (many makers record
    permissions only: no type is a file)."""
    kind = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0
    if kind == stat.S_IFLNK:
        return "a symbolic link"
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "not a regular file"
    return ""


def read_zip(data_or_path: Path | bytes, label: str = "", depth: int = 1) -> tuple[list[Entry], list[Refused]]:
    """The regular files of a zip and the entries refused with why. Raises ArchiveError when the archive itself
    cannot be trusted: a corrupt central directory, more than MAX_ENTRIES entries, declared sizes above the limits."""
    label = label or (str(data_or_path) if isinstance(data_or_path, Path) else "archive")
    try:
        if isinstance(data_or_path, Path):
            if data_or_path.stat().st_size > ZIP_LIMIT:
                raise ArchiveError(f"{label}: larger than {ZIP_LIMIT // 1_000_000_000} GB")
            source: Path | io.BytesIO = data_or_path
        else:
            source = io.BytesIO(data_or_path)
        with zipfile.ZipFile(source) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_ENTRIES:
                raise ArchiveError(f"{label}: {len(infos)} entries, more than the {MAX_ENTRIES} a download can have")
            declared = sum(info.file_size for info in infos)
            if declared > MAX_TOTAL_BYTES:
                raise ArchiveError(f"{label}: its entries declare {declared / 1e9:.1f} GB in all, more than "
                                   f"{MAX_TOTAL_BYTES / 1e9:.0f} GB (a zip bomb?)")
            return _entries(archive, infos, label, depth)
    except ArchiveError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as error:
        raise ArchiveError(f"{label}: not a readable zip ({error})") from None


def _entries(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], label: str,
             depth: int) -> tuple[list[Entry], list[Refused]]:
    entries: list[Entry] = []
    refused: list[Refused] = []
    for info in infos:
        name = info.filename
        why = _unsafe_name(name) or _kind(info)
        if not why and info.is_dir():
            continue
        if not why and info.file_size > MAX_ENTRY_BYTES:
            why = f"declares {info.file_size / 1e6:,.0f} MB, above the {MAX_ENTRY_BYTES // 1_000_000} MB limit"
        if not why and info.flag_bits & 0x1:
            why = "encrypted"
        if why:
            refused.append(Refused(f"{label}:{name}", why))
            continue
        if not kept_whole(name):  # only listed as not taken: its bytes are never needed, so never held
            entries.append(Entry(name.replace("\\", "/"), b"", _entry_time(info)))
            continue
        try:
            with archive.open(info) as handle:
                data = handle.read(MAX_ENTRY_BYTES + 1)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError, zlib.error) as error:
            refused.append(Refused(f"{label}:{name}", f"cannot be read ({error})"))
            continue
        if len(data) > MAX_ENTRY_BYTES:
            refused.append(Refused(f"{label}:{name}", "larger than its declared size and the limit"))
            continue
        modified = _entry_time(info)
        clean = name.replace("\\", "/")
        if clean.lower().endswith(".zip"):
            if depth >= MAX_DEPTH:
                refused.append(Refused(f"{label}:{name}", "a zip inside a zip inside the download: too deep"))
                continue
            try:
                inner, inner_refused = read_zip(data, f"{label}:{name}", depth + 1)
            except ArchiveError as error:
                refused.append(Refused(f"{label}:{name}", str(error)))
                continue
            # the LMS's time of the outer entry: the times inside a zip the student made are the student's to set
            entries += [Entry(f"{clean}/{e.name}", e.data, modified) for e in inner]
            refused += inner_refused
            continue
        entries.append(Entry(clean, data, modified))
    return entries, refused
