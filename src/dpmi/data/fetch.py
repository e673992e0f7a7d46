"""Download, verify and install the AT&T faces (`dpmi data fetch`, `dpmi data verify`).

A fetch never leaves a partial dataset: the archive is downloaded to a temporary file, unpacked into a
temporary directory beside the destination, every image is checked against the shipped SHA-256 manifest,
and only then is the directory renamed into place.
"""

from __future__ import annotations

import http.client
import os
import re
import shlex
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dpmi.data.manifest import load_manifest, sha256_file
from dpmi.data.paths import resolve_data_root

# Where the AT&T Laboratories Cambridge archive has been published; override with --url or a mirror.
DEFAULT_URL = "https://www.cl.cam.ac.uk/research/dtg/attarchive/pub/data/att_faces.zip"
_MEMBER = re.compile(r"(?:^|/)(s([1-9]|[1-3][0-9]|40)/([1-9]|10)\.pgm|README)$")
_MAX_ARCHIVE_BYTES = 64 << 20  # the real archive is ~4 MB; refuse anything absurd


def verify_att_faces(root: str | os.PathLike[str] | None = None) -> int:
    """Check every image of a copy against the shipped SHA-256 manifest; return how many were checked (400).

    Raises:
        FileNotFoundError: the directory or some images are missing (names them).
        ValueError: some images' bytes differ from the published dataset (names them).
    """
    directory = resolve_data_root(root)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"no AT&T faces directory at {directory}; download it there with `{_fetch_command(directory)}`"
        )
    if not any((directory / name).is_file() for name in load_manifest()):
        # Not a damaged copy but something else: never suggest a --force that would delete it.
        raise FileNotFoundError(
            f"{directory} holds none of the AT&T images (s1..s40/1..10.pgm): it is not a copy of the AT&T "
            f"faces; `dpmi data info {shlex.quote(str(directory))}` describes it as an image folder, and "
            "`dpmi data fetch --dest NEW_DIR` downloads the AT&T faces into a new directory"
        )
    return _check_copy(directory, f"replace that copy with `{_fetch_command(directory, force=True)}`")


def _check_copy(directory: Path, advice: str) -> int:
    """Compare `directory` with the manifest; raise naming missing / differing images, ending with `advice`."""
    manifest = load_manifest()
    missing = [name for name in manifest if not (directory / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of {len(manifest)} images missing under {directory} "
            f"(first: {', '.join(missing[:3])}); {advice}"
        )
    wrong = [name for name, digest in manifest.items() if sha256_file(directory / name) != digest]
    if wrong:
        raise ValueError(
            f"{len(wrong)} images under {directory} do not match the published AT&T faces "
            f"(first: {', '.join(wrong[:3])}); {advice}"
        )
    return len(manifest)


def _fetch_command(directory: Path, force: bool = False) -> str:
    """The `dpmi data fetch` command line that acts on `directory` (not on some default location)."""
    return f"dpmi data fetch --dest {shlex.quote(str(directory))}" + (" --force" if force else "")


@dataclass(frozen=True)
class FetchOutcome:
    """What `install_att_faces` did.

    Attributes:
        path: the faces directory (valid when this is returned).
        installed: True if it downloaded and installed a copy; False if a valid copy was already there
            (verified against the manifest) and nothing was downloaded.
        images: how many images were verified.
    """

    path: Path
    installed: bool
    images: int


def fetch_att_faces(
    url: str | None = None,
    dest: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    timeout_s: float = 60.0,
    progress: bool = False,
) -> Path:
    """`install_att_faces`, returning only the directory."""
    return install_att_faces(url, dest, force=force, timeout_s=timeout_s, progress=progress).path


def install_att_faces(
    url: str | None = None,
    dest: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    timeout_s: float = 60.0,
    progress: bool = False,
) -> FetchOutcome:
    """Download the AT&T faces archive (zip or tar, optionally gzip/bz2/xz), verify it, install it at `dest`.

    Args:
        url: archive address (http, https or file); default `DEFAULT_URL`.
        dest: target directory; default `$DPMI_DATA`, else `~/.cache/dpmi/att_faces`.
        force: replace an existing directory at `dest` even if it is not a valid copy.
        timeout_s: network timeout per read, seconds (> 0).
        progress: show a tqdm progress bar while downloading.

    Returns:
        Where the faces are (holding s1..s40/1..10.pgm and the dataset's README) and whether this call
        installed them (False: a valid copy was already there; nothing was downloaded).

    Raises:
        ValueError: the download failed, the archive is not a zip/tar or lacks images, or a hash differs.
        FileExistsError: `dest` exists, is not a valid copy, and `force` is False.
    """
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be > 0 seconds, got {timeout_s}")
    target = resolve_data_root(dest)
    if target.exists() and not force:
        try:
            count = verify_att_faces(target)
            return FetchOutcome(target, installed=False, images=count)  # already there and intact
        except (FileNotFoundError, ValueError) as exc:
            raise FileExistsError(
                f"{target} exists but is not a valid copy of the AT&T faces ({exc}); "
                f"`{_fetch_command(target, force=True)}` replaces it (deleting what is there), or choose "
                "another --dest"
            ) from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".dpmi-fetch-", dir=target.parent) as scratch:
        archive = Path(scratch) / "archive"
        _download(url or DEFAULT_URL, archive, timeout_s, progress)
        unpacked = Path(scratch) / "att_faces"
        _extract_faces(archive, unpacked)
        count = _check_copy(
            unpacked,
            f"the archive at {url or DEFAULT_URL} is not the published AT&T faces: "
            "nothing was installed; pass --url a good mirror",
        )
        _replace_dir(unpacked, target)
    return FetchOutcome(target, installed=True, images=count)


def _download(url: str, path: Path, timeout_s: float, progress: bool) -> None:
    if not re.match(r"^(https?|file)://", url):
        raise ValueError(f"--url must start with http://, https:// or file://, got {url!r}")
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, open(path, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            bar = None
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=total, unit="B", unit_scale=True, desc="att_faces")
            written = 0
            while chunk := response.read(1 << 16):
                written += len(chunk)
                if written > _MAX_ARCHIVE_BYTES:
                    raise ValueError(f"{url} is larger than {_MAX_ARCHIVE_BYTES >> 20} MiB: not the AT&T archive")
                out.write(chunk)
                if bar is not None:
                    bar.update(len(chunk))
            if bar is not None:
                bar.close()
    except urllib.error.URLError as exc:
        raise ValueError(f"could not download {url}: {exc.reason}; check the address or pass --url a mirror") from exc
    except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        raise ValueError(f"could not download {url}: {exc}; check the network or pass --url a mirror") from exc


def _extract_faces(archive: Path, out_dir: Path) -> None:
    """Copy the archive's s*/N.pgm images and README into `out_dir`, whatever folder they sit under.

    Only members whose names match the dataset's layout are read, so a hostile archive cannot write
    outside `out_dir` (no path from the archive is ever used as a destination).
    """
    members: dict[str, bytes] = {}
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for zip_info in zf.infolist():
                key = _layout_name(zip_info.filename)
                if key and not zip_info.is_dir():
                    members[key] = zf.read(zip_info)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            for info in tf.getmembers():
                key = _layout_name(info.name)
                if key and info.isfile():
                    handle = tf.extractfile(info)
                    if handle is not None:
                        members[key] = handle.read()
    else:
        raise ValueError(f"the downloaded file is neither a zip nor a tar archive ({archive.stat().st_size} bytes)")
    images = [k for k in members if k.endswith(".pgm")]
    if not images:
        raise ValueError("the archive holds no s<k>/<n>.pgm images: it is not the AT&T faces archive")
    for name, payload in members.items():
        path = out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)


def _layout_name(member: str) -> str | None:
    match = _MEMBER.search(str(PurePosixPath(member.replace("\\", "/"))))
    return match.group(1) if match else None


def _replace_dir(new: Path, target: Path) -> None:
    """Move `new` to `target`; an existing `target` is swapped out first and removed only after."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    try:
        os.replace(new, target)
    except OSError:
        if old is not None:
            os.replace(old, target)  # put the previous copy back rather than strand it
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
