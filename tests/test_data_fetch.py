"""`fetch_att_faces` against a real HTTP server on 127.0.0.1 serving archives built here from the shared copy."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from dpmi.data import load_att_faces
from dpmi.data.fetch import fetch_att_faces, verify_att_faces
from dpmi.data.manifest import load_manifest


def test_shipped_manifest_matches_the_shared_hash_list(faces_root):
    listed = {}
    for line in (faces_root.parent / "att_faces.sha256").read_text().splitlines():
        digest, name = line.split()
        listed[name.removeprefix("./")] = digest
    assert load_manifest() == listed
    assert len(listed) == 400


def _archive_bytes(faces_root: Path, kind: str, tamper: str | None = None, drop: str | None = None) -> bytes:
    files = sorted(p for p in faces_root.rglob("*") if p.is_file())
    buffer = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in files:
                rel = path.relative_to(faces_root).as_posix()
                if rel == drop:
                    continue
                data = path.read_bytes()
                if rel == tamper:
                    data = data[:-1] + bytes([data[-1] ^ 0xFF])
                zf.writestr(f"att_faces/{rel}", data)
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
            for path in files:
                tf.add(path, arcname=path.relative_to(faces_root).as_posix())
    return buffer.getvalue()


@pytest.fixture
def served(tmp_path):
    """Serve tmp_path/www over HTTP on 127.0.0.1; yields (www_dir, base_url)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *args, **kwargs: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield www, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("kind,name", [("zip", "att_faces.zip"), ("tar", "att_faces.tar.gz")])
def test_fetch_downloads_verifies_and_installs(served, faces_root, faces, tmp_path, kind, name):
    www, base = served
    (www / name).write_bytes(_archive_bytes(faces_root, kind))
    dest = tmp_path / "cache" / "att_faces"
    assert fetch_att_faces(f"{base}/{name}", dest) == dest
    assert verify_att_faces(dest) == 400
    assert (dest / "README").is_file()
    fetched = load_att_faces(dest)
    assert (fetched.images == faces.images).all()
    # A second fetch finds a valid copy and does not download (the server no longer has the file).
    (www / name).unlink()
    assert fetch_att_faces(f"{base}/{name}", dest) == dest


def test_hash_mismatch_fails_and_installs_nothing(served, faces_root, tmp_path):
    www, base = served
    (www / "bad.zip").write_bytes(_archive_bytes(faces_root, "zip", tamper="s17/5.pgm"))
    dest = tmp_path / "att_faces"
    with pytest.raises(ValueError, match=r"s17/5\.pgm"):
        fetch_att_faces(f"{base}/bad.zip", dest)
    assert not dest.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["www"]  # no scratch left behind


def test_incomplete_archive_fails_naming_the_missing_image(served, faces_root, tmp_path):
    www, base = served
    (www / "short.zip").write_bytes(_archive_bytes(faces_root, "zip", drop="s2/2.pgm"))
    with pytest.raises(FileNotFoundError, match=r"s2/2\.pgm"):
        fetch_att_faces(f"{base}/short.zip", tmp_path / "att_faces")
    assert not (tmp_path / "att_faces").exists()


def test_not_an_archive_and_unreachable_url_fail_clearly(served, tmp_path):
    www, base = served
    (www / "page.html").write_text("<html>moved</html>")
    with pytest.raises(ValueError, match="neither a zip nor a tar"):
        fetch_att_faces(f"{base}/page.html", tmp_path / "a")
    with pytest.raises(ValueError, match="could not download"):
        fetch_att_faces(f"{base}/missing.zip", tmp_path / "b")
    with pytest.raises(ValueError, match="--url must start"):
        fetch_att_faces("ftp://example.invalid/x.zip", tmp_path / "c")


def test_existing_invalid_destination_needs_force(served, faces_root, tmp_path):
    www, base = served
    (www / "ok.zip").write_bytes(_archive_bytes(faces_root, "zip"))
    dest = tmp_path / "att_faces"
    dest.mkdir()
    (dest / "junk.txt").write_text("not faces")
    with pytest.raises(FileExistsError, match="--force"):
        fetch_att_faces(f"{base}/ok.zip", dest)
    fetch_att_faces(f"{base}/ok.zip", dest, force=True)
    assert verify_att_faces(dest) == 400 and not (dest / "junk.txt").exists()


def test_verify_names_a_corrupted_file(faces_root, tmp_path):
    import shutil

    copy = tmp_path / "faces"
    shutil.copytree(faces_root, copy)
    target = copy / "s9" / "3.pgm"
    data = bytearray(target.read_bytes())
    data[500] ^= 0x01
    target.write_bytes(bytes(data))
    assert hashlib.sha256(bytes(data)).hexdigest() != load_manifest()["s9/3.pgm"]
    with pytest.raises(ValueError, match=r"s9/3\.pgm"):
        verify_att_faces(copy)


def test_cli_data_fetch_and_verify(served, faces_root, tmp_path, capsys):
    from dpmi.cli import main

    www, base = served
    (www / "att_faces.zip").write_bytes(_archive_bytes(faces_root, "zip"))
    dest = tmp_path / "faces"
    assert main(["data", "fetch", "--url", f"{base}/att_faces.zip", "--dest", str(dest)]) == 0
    assert main(["data", "verify", str(dest)]) == 0
    assert "400" in capsys.readouterr().out
    (dest / "s5" / "5.pgm").write_bytes(b"P5\n92 112\n255\n")  # truncated
    assert main(["data", "verify", str(dest)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dpmi: error:") and "s5/5.pgm" in err[0]
    assert main(["data", "fetch", "--url", f"{base}/att_faces.zip", "--dest", str(dest)]) == 2
    assert "--force" in capsys.readouterr().err


def test_cli_fetch_says_already_there_and_suggestions_name_their_path(served, faces_root, tmp_path, capsys):
    from dpmi.cli import main

    www, base = served
    (www / "att_faces.zip").write_bytes(_archive_bytes(faces_root, "zip"))
    dest = tmp_path / "faces"
    assert main(["data", "fetch", "--url", f"{base}/att_faces.zip", "--dest", str(dest)]) == 0
    assert "installed at" in capsys.readouterr().out
    assert main(["data", "fetch", "--url", f"{base}/att_faces.zip", "--dest", str(dest)]) == 0
    out = capsys.readouterr().out
    assert "already there, verified: 400 images" in out and "installed" not in out
    (dest / "s2" / "3.pgm").unlink()
    with pytest.raises(FileNotFoundError, match=f"dpmi data fetch --dest {dest} --force"):
        verify_att_faces(dest)
    elsewhere = tmp_path / "not_faces"
    elsewhere.mkdir()
    with pytest.raises(FileNotFoundError, match="not a copy of the AT&T faces") as info:
        verify_att_faces(elsewhere)
    assert "--force" not in str(info.value)  # never suggest deleting a directory that is not a copy
