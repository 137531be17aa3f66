"""LMS downloads read as hostile archives: zip slip, links, zip bombs by declared size or entry count, a corrupt
central directory, a zip inside the download; and what collect does with each."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest

from grader.course import archives
from grader.course.archives import ArchiveError, read_zip
from grader.course.collect import collect
from grader.course.gradebook import Gradebook
from grader.course.records import Student


def make_zip(entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def link_entry(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


@pytest.mark.parametrize("name", ["../evil.ipynb", "a/../../evil.ipynb", "/etc/evil.ipynb", "..\\evil.ipynb",
                                  "C:/evil.ipynb"])
def test_a_path_that_escapes_is_refused(name: str) -> None:
    entries, refused = read_zip(make_zip([(name, b"{}"), ("fine.ipynb", b"{}")]))
    assert [e.name for e in entries] == ["fine.ipynb"]
    assert len(refused) == 1 and ("zip slip" in refused[0].why or "absolute" in refused[0].why)


def test_a_symbolic_link_entry_is_refused() -> None:
    entries, refused = read_zip(make_zip([link_entry("alice.ipynb", "/etc/passwd")]))
    assert entries == [] and refused[0].why == "a symbolic link"


def test_a_declared_size_of_10_gb_refuses_the_archive_unread() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bomb.ipynb", b"{}")
        archive.filelist[-1].file_size = 10 * 2**30  # what the central directory will declare (zip64)
    with pytest.raises(ArchiveError, match=r"declare 10\.7 GB"):
        read_zip(buffer.getvalue())


def test_one_entry_above_the_notebook_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archives, "MAX_ENTRY_BYTES", 1000)
    entries, refused = read_zip(make_zip([("big.ipynb", b"x" * 2000), ("small.ipynb", b"{}")]))
    assert [e.name for e in entries] == ["small.ipynb"] and "above the" in refused[0].why


def test_too_many_entries_refuse_the_archive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archives, "MAX_ENTRIES", 3)
    with pytest.raises(ArchiveError, match="4 entries"):
        read_zip(make_zip([(f"{i}.ipynb", b"{}") for i in range(4)]))


def test_a_corrupt_central_directory_is_a_clear_error() -> None:
    data = bytearray(make_zip([("a.ipynb", b"{}" * 100)]))
    start = data.rfind(b"PK\x01\x02")
    data[start: start + 30] = b"\x00" * 30
    with pytest.raises(ArchiveError, match="not a readable zip"):
        read_zip(bytes(data))
    with pytest.raises(ArchiveError, match="not a readable zip"):
        read_zip(b"this is no zip at all")


def test_a_zip_inside_the_download_is_read_once_deep() -> None:
    inner = make_zip([("work/alice.ipynb", b"{}"), ("../escape.ipynb", b"{}")])
    deeper = make_zip([("inner.zip", make_zip([("x.ipynb", b"{}")]))])
    entries, refused = read_zip(make_zip([("alice_101_1_upload.zip", inner), ("bob.zip", deeper)]))
    assert [e.name for e in entries] == ["alice_101_1_upload.zip/work/alice.ipynb"]
    assert {r.why.split(" (")[0] for r in refused} == {"a path that climbs out with '..'",
                                                       "a zip inside a zip inside the download: too deep"}


def test_collect_lists_every_refused_entry_and_takes_the_rest(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "gradebook.sqlite") as gradebook:
        gradebook.put_students([Student("alice", "Alice"), Student("bob", "Bob")])
        download = tmp_path / "download.zip"
        download.write_bytes(make_zip([("alice.ipynb", b"{}"), ("../bob.ipynb", b"{}"),
                                       link_entry("bob/link.ipynb", "/etc/passwd")]))
        broken = tmp_path / "broken.zip"
        broken.write_bytes(b"PK\x03\x04 truncated")
        result = collect(gradebook, tmp_path, "t", [download, broken])
    assert result.added == [("alice", f"{download}:alice.ipynb")]
    whys = {source: why for source, why in result.problems}
    assert "zip slip" in whys[f"{download}:../bob.ipynb"]
    assert whys[f"{download}:bob/link.ipynb"] == "a symbolic link"
    assert whys[str(broken)].startswith("not a readable zip")  # the archive's name once, on the line, not twice
    assert not (tmp_path.parent / "bob.ipynb").exists()
    stored = list((tmp_path / "submissions" / "t").rglob("*.ipynb"))
    assert [p.parent.name for p in stored] == ["alice"]


def test_collect_from_a_folder_never_follows_a_link(tmp_path: Path) -> None:
    secret = tmp_path / "secret.ipynb"
    secret.write_text("{}")
    source = tmp_path / "in"
    (source / "bob").mkdir(parents=True)
    (source / "bob" / "work.ipynb").symlink_to(secret)
    (source / "alice-repo").symlink_to(tmp_path)
    with Gradebook(tmp_path / "gradebook.sqlite") as gradebook:
        gradebook.put_students([Student("alice", "Alice"), Student("bob", "Bob")])
        result = collect(gradebook, tmp_path, "t", [source])
    assert result.added == []
    assert {why.split(" (")[0].split(":")[0] for _, why in result.problems} == {"not a regular file", "a link to a folder"}


def test_a_github_classroom_folder_is_matched_by_login(tmp_path: Path) -> None:
    source = tmp_path / "classroom"
    for repo, cells in (("toy-alice-gh", "{}"), ("toy-bob", "{\"x\": 1}")):
        (source / repo / "work").mkdir(parents=True)
        (source / repo / "work" / "t.ipynb").write_text(cells)
        (source / repo / "README.md").write_text("hi")
    (source / "toy-alice-gh" / ".git").mkdir()
    (source / "toy-alice-gh" / ".git" / "config").write_text("[core]")
    with Gradebook(tmp_path / "gradebook.sqlite") as gradebook:
        gradebook.put_students([Student("alice", "Alice", login="alice-gh"), Student("bob", "Bob")])
        result = collect(gradebook, tmp_path, "t", [source])
    assert sorted(student for student, _ in result.added) == ["alice", "bob"]
    assert all("README.md" in source and "not notebooks" in why for source, why in result.problems)
    assert len(result.problems) == 2  # one line per student, .git not read at all


def test_one_notebook_named_for_its_student_can_be_collected(tmp_path: Path) -> None:
    (tmp_path / "alice.ipynb").write_text("{}")
    (tmp_path / "other.ipynb").write_text("{}")
    with Gradebook(tmp_path / "gradebook.sqlite") as gradebook:
        gradebook.put_students([Student("alice", "Alice")])
        result = collect(gradebook, tmp_path, "t", [tmp_path / "alice.ipynb"])
    assert result.added == [("alice", str(tmp_path / "alice.ipynb"))] and result.problems == []


def test_a_nested_zip_takes_the_lms_time_not_the_times_the_student_wrote_in_it() -> None:
    """Lateness is judged on the received time: entries of a zip the student made carry whatever times they chose."""
    backdated = zipfile.ZipInfo("alice.ipynb", date_time=(2020, 1, 1, 0, 0, 0))
    outer = zipfile.ZipInfo("alice_101_1_upload.zip", date_time=(2026, 10, 3, 12, 0, 0))
    (entry,), _ = read_zip(make_zip([(outer, make_zip([(backdated, b"{}")]))]))
    assert entry.modified is not None and entry.modified.year == 2026


def test_only_notebooks_and_zips_are_read_into_memory(tmp_path: Path) -> None:
    """Everything else in a download (a data file, a video) is only listed as not taken: a 2 GB download of such
    files must not be held in memory to be thrown away."""
    inner = make_zip([("hw.ipynb", b"{}"), ("data.csv", b"9" * 1000)])
    entries, refused = read_zip(make_zip([("a/hw.ipynb", b"{}"), ("a/video.mp4", b"x" * 100_000),
                                          ("a/more.zip", inner)]), "dl.zip")
    assert refused == []
    assert {e.name: e.data for e in entries} == {"a/hw.ipynb": b"{}", "a/video.mp4": b"", "a/more.zip/hw.ipynb": b"{}",
                                                 "a/more.zip/data.csv": b""}
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "notes.txt").write_bytes(b"n" * 1000)
    from grader.course.collect import _read_file

    entry = _read_file(tmp_path / "folder" / "notes.txt", "notes.txt", [])
    assert entry is not None and entry.data == b""
