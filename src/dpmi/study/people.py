"""The study's people: which are private (the target's) and which public (the attacker's), from the config."""

from __future__ import annotations

from dpmi.data import FaceDataset
from dpmi.data.identities import IdentitySplit, select_identities, split_identities
from dpmi.study.config import StudyConfig


def split_people(config: StudyConfig, faces: FaceDataset, public: FaceDataset | None = None) -> IdentitySplit:
    """The private/public people of this study (`dpmi.data.split_identities`; empty lists mean the default).

    With `public` (the second folder, `--public DIR`), the attacker's people are all of its people and the
    private ones are those of `faces` (all of them, or --private-people): no private person can be public.
    """
    if public is not None:
        private = faces
        if config.data.private:
            try:
                private = select_identities(faces, config.data.private)
            except ValueError as exc:
                raise ValueError(f"{exc} (--private-people, [data] private)") from exc
        return IdentitySplit(
            private=private,
            public=public,
            private_ids=tuple(config.data.private or range(faces.num_classes)),
            public_ids=tuple(range(public.num_classes)),
        )
    try:
        return split_identities(faces, private=config.data.private or None, public=config.data.public or None)
    except ValueError as exc:
        raise ValueError(f"{exc} (--private-people / --public-people, [data] private / public)") from exc
