"""Private and public identities: the attacker's prior is learned from people the target never saw.

Model-inversion studies with a prior (GMI, Zhang et al. CVPR 2020; KED-MI, Chen et al. ICCV 2021; PPA,
Struppek et al. ICML 2022) split the identities of one face collection into disjoint sets: the target model,
its evaluation classifier and the metrics see only the *private* identities; the attacker's prior and any
auxiliary data come from the *public* ones. `split_identities` does that split and relabels each side to
0..k-1, keeping the original identity of every label in `identity_ids`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dpmi.data.face_dataset import FaceDataset

# The default split gives half the people to each side, and each side needs 2 (a classifier of 1 person
# is no classifier): fewer people need a second folder for the attacker (--public DIR).
MIN_PEOPLE_TO_SPLIT = 4


@dataclass(frozen=True)
class IdentitySplit:
    """A disjoint split of a dataset's identities.

    Attributes:
        private: the private identities' images, labels relabelled 0..len(private_ids)-1 in the order of
            `private_ids`.
        public: the public identities' images, labels relabelled 0..len(public_ids)-1.
        private_ids: original label of each private label (private label k is original `private_ids[k]`).
        public_ids: original label of each public label.
    """

    private: FaceDataset
    public: FaceDataset
    private_ids: tuple[int, ...]
    public_ids: tuple[int, ...]


def select_identities(dataset: FaceDataset, identities: Sequence[int]) -> FaceDataset:
    """The images of `identities` (original labels), relabelled so identities[k] becomes label k.

    Images keep their order within the dataset; identity names (if any) follow their identities. Raises
    ValueError on an unknown or repeated identity.
    """
    ids = [int(i) for i in identities]
    if len(set(ids)) != len(ids):
        raise ValueError(f"identities must not repeat, got {ids}")
    bad = [i for i in ids if not 0 <= i < dataset.num_classes]
    if bad:
        raise ValueError(f"identities must be in 0..{dataset.num_classes - 1}, got {bad}")
    relabel = np.full(dataset.num_classes, -1, dtype=np.int64)
    relabel[ids] = np.arange(len(ids))
    keep = relabel[dataset.labels] >= 0
    subset = dataset.subset(np.flatnonzero(keep))
    names = None if dataset.names is None else tuple(dataset.names[i] for i in ids)
    return FaceDataset(subset.images, relabel[subset.labels], subset.image_ids, num_classes=len(ids), names=names)


def split_identities(
    dataset: FaceDataset,
    private: Sequence[int] | None = None,
    public: Sequence[int] | None = None,
) -> IdentitySplit:
    """Split `dataset`'s identities into private and public ones (disjoint, neither empty).

    Args:
        dataset: all images with labels 0..num_classes-1.
        private: original labels of the private identities. Default: the first half
            (0..num_classes//2 - 1), or the complement of `public` when only that is given.
        public: original labels of the public identities. Default: every identity not private.

    Raises:
        ValueError: an identity out of range or repeated, the two sets overlapping, either set empty, fewer
            than 2 private people (a classifier needs 2), or, for the default split, fewer than 4 people.
    """
    classes = dataset.num_classes
    if private is None and public is None:
        if classes < MIN_PEOPLE_TO_SPLIT:
            raise ValueError(
                f"the faces hold {classes} {'person' if classes == 1 else 'people'}; a study needs at least "
                f"{MIN_PEOPLE_TO_SPLIT} people to split into private and public (at least 2 on each side: the "
                "target and the attacker's classifiers tell 2 or more people apart), or pass --public DIR (a "
                "second folder of the attacker's people) to keep them all private"
            )
        private = range(classes // 2)
    if private is None:
        assert public is not None
        chosen = {int(i) for i in public}
        private = [i for i in range(classes) if i not in chosen]
    if public is None:
        chosen = {int(i) for i in private}
        public = [i for i in range(classes) if i not in chosen]
    private_ids, public_ids = tuple(int(i) for i in private), tuple(int(i) for i in public)
    overlap = sorted(set(private_ids) & set(public_ids))
    if overlap:
        raise ValueError(
            f"private and public identities overlap in {overlap}: an attacker's prior must never see "
            "a private person; give disjoint lists"
        )
    if not private_ids or not public_ids:
        raise ValueError(
            f"both sides need at least one identity (private {list(private_ids)}, public "
            f"{list(public_ids)}); choose a split that leaves people on each side"
        )
    if len(private_ids) < 2:
        raise ValueError(
            f"only 1 private person ({private_ids[0]}): the target classifier needs at least 2 private people; "
            "choose more"
        )
    return IdentitySplit(
        select_identities(dataset, private_ids), select_identities(dataset, public_ids), private_ids, public_ids
    )
