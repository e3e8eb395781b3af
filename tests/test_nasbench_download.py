"""Downloading the official files, served here from file:// URLs; no network is used."""

import hashlib
from pathlib import Path

import pytest

from nasbench1shot1.nasbench import OFFICIAL_FILES, DownloadError, download
from nasbench1shot1.nasbench import official as official_module
from nasbench1shot1.nasbench.official import OfficialFile


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """Serve a small stand-in for nasbench_only108.tfrecord as a file:// URL."""
    content = bytes(range(256)) * 4099
    source = tmp_path / "server" / "nasbench_only108.tfrecord"
    source.parent.mkdir()
    source.write_bytes(content)
    official = OfficialFile(source.as_uri(), len(content), hashlib.sha256(content).hexdigest())
    monkeypatch.setitem(OFFICIAL_FILES, "only108", official)
    return content


def test_official_files_are_the_published_ones():
    assert OFFICIAL_FILES["only108"].filename == "nasbench_only108.tfrecord"
    assert OFFICIAL_FILES["only108"].size == 522_767_376
    assert OFFICIAL_FILES["full"].url == (
        "https://storage.googleapis.com/nasbench/nasbench_full.tfrecord"
    )
    assert OFFICIAL_FILES["full"].sha256.startswith("3d64db8180fb")


def test_download_checks_and_renames(served: bytes, tmp_path: Path, capsys: pytest.CaptureFixture):
    path = download("only108", tmp_path / "data")
    assert path == tmp_path / "data" / "nasbench_only108.tfrecord"
    assert path.read_bytes() == served
    assert not path.with_name(path.name + ".part").exists()
    assert "(100%)" in capsys.readouterr().err


def test_present_file_is_not_fetched_again(
    served: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    path = download("only108", tmp_path, progress=False)

    def offline(*args, **kwargs):
        raise AssertionError("fetched again")

    monkeypatch.setattr(official_module.urllib.request, "urlopen", offline)
    assert download("only108", tmp_path, progress=False) == path


def test_damaged_present_file_is_fetched_again(served: bytes, tmp_path: Path):
    target = tmp_path / "nasbench_only108.tfrecord"
    target.write_bytes(b"\x00" * len(served))
    assert download("only108", tmp_path, progress=False).read_bytes() == served


def test_checksum_mismatch_leaves_nothing(
    served: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    wrong = OfficialFile(OFFICIAL_FILES["only108"].url, len(served), "0" * 64)
    monkeypatch.setitem(OFFICIAL_FILES, "only108", wrong)
    with pytest.raises(DownloadError, match="expected .* bytes with SHA256 0000"):
        download("only108", tmp_path / "data", progress=False)
    assert list((tmp_path / "data").iterdir()) == []


def test_unreachable_url_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # Port 9 (discard) on the loopback refuses at once; nothing leaves the machine.
    url = "http://127.0.0.1:9/nasbench/nasbench_full.tfrecord"
    monkeypatch.setitem(OFFICIAL_FILES, "full", OfficialFile(url, 10, "0" * 64))
    with pytest.raises(DownloadError, match=f"could not download {url} ") as raised:
        download("full", tmp_path, progress=False)
    assert isinstance(raised.value, OSError)
    assert not (tmp_path / "nasbench_full.tfrecord.part").exists()


def test_unknown_name():
    with pytest.raises(
        ValueError, match="unknown benchmark 'small', expected one of only108, full"
    ):
        download("small", ".")
