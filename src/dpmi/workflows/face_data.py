"""`dpmi data fetch / verify / info`: get the AT&T faces, check a copy or any identity folder, describe one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dpmi.flags import image_size_option, option
from dpmi.workflows.command_output import CommandOutput

DATA_HELP = "get, check or describe face data (the AT&T faces or your own folder)"
DATA_DESCRIPTION = (
    "Get the AT&T faces (fetch), check a copy or any identity folder (verify), describe a folder (info). An "
    "identity folder is DIR/<identity>/<image>: one sub-folder per person, any image format Pillow reads; "
    "hidden files and files directly in DIR are ignored, any other non-image is refused."
)
ROOT_HELP = "faces directory (default $DPMI_DATA, else the cache)"


@dataclass
class FetchOptions:
    """Download the AT&T faces archive, check every image against the SHA-256 list shipped with dpmi, and
    install the directory only if all match. A valid copy already at the destination is verified and kept
    (nothing is downloaded)."""

    url: str | None = option(None, "--url", "archive address (default: the AT&T Laboratories Cambridge archive)")
    dest: str | None = option(None, "--dest", "install here (default $DPMI_DATA, else the cache)", metavar="DIR")
    force: bool = option(
        False, "--force", "replace an existing directory at the destination that is not a valid copy (it is deleted)"
    )


@dataclass
class VerifyOptions:
    """A directory holding AT&T images is checked image by image against the published SHA-256 list; any
    other directory is read as an identity folder and every image decoded."""

    root: str | None = option(None, "DIR", ROOT_HELP, optional=True)
    image_size: tuple[int, int] | None = image_size_option(
        "check the folder resized to height x width (default: none; all images one size)"
    )


@dataclass
class InfoOptions:
    """Describe DIR/<identity>/<image> from the image headers: identities and their names, images per
    identity, sizes, channels, and a fingerprint (SHA-256 of paths and contents)."""

    root: str | None = option(None, "DIR", ROOT_HELP, optional=True)
    image_size: tuple[int, int] | None = image_size_option(
        "also say the size the images load at when resized to height x width (default: as stored)"
    )


def fetch_faces(options: FetchOptions, log: Any = None) -> CommandOutput:
    from dpmi.data.fetch import install_att_faces

    outcome = install_att_faces(options.url, options.dest, force=options.force, progress=True)
    if outcome.installed:
        return CommandOutput([f"AT&T faces installed at {outcome.path} ({outcome.images} images verified)"])
    return CommandOutput(
        [f"AT&T faces already there, verified: {outcome.images} images at {outcome.path} (nothing downloaded)"]
    )


def verify_faces(options: VerifyOptions, log: Any = None) -> CommandOutput:
    """A directory of AT&T images is checked against the published SHA-256 list; any other, image by image."""
    from dpmi.data import resolve_data_root, verify_image_folder
    from dpmi.data.fetch import verify_att_faces
    from dpmi.data.folder_summary import looks_like_att_faces

    root = resolve_data_root(options.root)
    if options.image_size is None and (not root.is_dir() or looks_like_att_faces(root)):
        count = verify_att_faces(root)
        return CommandOutput([f"ok: {count} images at {root} match the published AT&T faces"])
    summary = verify_image_folder(root, image_size=options.image_size)
    head = f"ok: every image at {root} loads: {len(summary.names)} identities, {summary.num_images} images"
    return CommandOutput([head, *(f"  {line}" for line in summary.lines()[2:])])


def describe_faces(options: InfoOptions, log: Any = None) -> CommandOutput:
    from dpmi.data import describe_image_folder, resolve_data_root

    summary = describe_image_folder(resolve_data_root(options.root))
    lines = summary.lines()
    if options.image_size is not None:
        height, width = options.image_size
        lines.insert(4, f"loaded as (height x width): {height}x{width} (resized)")
    return CommandOutput(lines)
