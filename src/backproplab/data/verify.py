"""Checking a dataset's four IDX files: structure always, checksums where they apply.

Each file ends in one of these states:

``md5``
    the gzip file is byte-for-byte the published one (its MD5 matches);
``sha256``
    the decompressed content matches the known SHA-256 (a re-compressed copy,
    such as Debian's, or a raw file);
``structure``
    only the structure could be checked: the file is not of the canonical size
    (a subset, say), or no content hash is known yet;
``mismatch``
    the file has the canonical size but its content differs from the known
    hash: usable (it is structurally valid), but not the published data.

The structure is always checked, and a problem there raises
:class:`~backproplab.errors.BackproplabError`: images are ``uint8`` of shape
(n, rows, cols), labels ``uint8`` of shape (n,), counts of images and labels
agree, labels are below the number of classes, and training and test images have
the same size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from backproplab.data.catalog import (
    CATALOG,
    DatasetSpec,
    FileSpec,
    Location,
    get_spec,
    known_sha256,
    record_hashes,
)
from backproplab.data.idx import IdxFile, read_idx_file
from backproplab.errors import BackproplabError

VERIFIED = ("md5", "sha256")


@dataclass
class FileCheck:
    """The verification result of one file.

    Attributes
    ----------
    role : str
        The file's role.
    path : pathlib.Path
        The file.
    status : str
        ``"md5"`` or ``"sha256"`` (verified that way), ``"mismatch"`` or
        ``"structure"`` (only its structure could be checked).
    detail : str
        What was found, in words.
    shape : tuple of int
        Its array's shape.
    """

    role: str
    path: Path
    status: str
    detail: str
    shape: tuple[int, ...]


@dataclass
class Verification:
    """The result of :func:`verify_location`: per-file checks plus the arrays read.

    Attributes
    ----------
    spec : DatasetSpec
        The dataset.
    location : Location
        Where its files are.
    checks : dict of str to FileCheck
        Role -> check.
    arrays : dict of str to numpy.ndarray
        Role -> array.
    """

    spec: DatasetSpec
    location: Location
    checks: dict[str, FileCheck]
    arrays: dict[str, np.ndarray] = field(repr=False)

    @property
    def verified(self) -> bool:
        """Every file matches a published MD5 or a known content hash."""
        return all(c.status in VERIFIED for c in self.checks.values())

    @property
    def mismatches(self) -> list[FileCheck]:
        return [c for c in self.checks.values() if c.status == "mismatch"]

    @property
    def status(self) -> str:
        """``"verified"``, ``"mismatch"`` or ``"structure only"``."""
        if self.verified:
            return "verified"
        return "mismatch" if self.mismatches else "structure only"

    def summary(self) -> str:
        """One line: what was checked and how."""
        if self.verified:
            how = sorted({c.status for c in self.checks.values()})
            names = {"md5": "published MD5", "sha256": "content SHA-256"}
            return "verified (" + " and ".join(names[h] for h in how) + ")"
        if self.mismatches:
            files = ", ".join(c.path.name for c in self.mismatches)
            return f"content differs from the published data: {files}"
        notes = sorted({c.detail for c in self.checks.values() if c.status == "structure"})
        return "structure valid; " + "; ".join(notes)

    def to_dict(self) -> dict:
        return {
            "dataset": self.spec.name,
            "source": self.location.source,
            "directory": str(self.location.directory),
            "status": self.status,
            "verified": self.verified,
            "summary": self.summary(),
            "files": {r: {"path": str(c.path), "status": c.status, "detail": c.detail,
                          "shape": list(c.shape)} for r, c in self.checks.items()},
        }


def check_content(fs: FileSpec, f: IdxFile, expected: str | None, origin: str = "built-in",
                  ) -> tuple[str, str]:
    """How far one read file is the published one: the ONE place that accepts a digest.

    The published MD5 (of a gzip file) or, for a file of the canonical shape, the
    content SHA-256 ``expected`` verifies it.

    Parameters
    ----------
    fs : FileSpec
        What the file should be (published MD5, canonical shape).
    f : IdxFile
        The file as read.
    expected : str or None
        The known content SHA-256 (``None``: none known).
    origin : str, default "built-in"
        Where ``expected`` comes from (``"built-in"``, ``"recorded"``), for the detail.

    Returns
    -------
    tuple of str
        ``(status, detail)``: status ``"md5"`` or ``"sha256"`` (verified, see
        :data:`VERIFIED`), ``"structure"`` or ``"mismatch"``; detail in words.

    Examples
    --------
    >>> import numpy as np
    >>> from backproplab.data.idx import encode_idx
    >>> raw = encode_idx(np.zeros(3, np.uint8))
    >>> fs = FileSpec("test_labels", "x", None, None, (3,))
    >>> check_content(fs, IdxFile(Path("x"), np.zeros(3, np.uint8), False, raw, raw), None)[0]
    'structure'
    """
    if f.compressed and fs.md5 and f.file_md5 == fs.md5:
        return "md5", "matches the published MD5"
    if tuple(f.array.shape) != tuple(fs.shape):
        return "structure", (f"not the canonical size (shape {tuple(f.array.shape)}, canonical "
                             f"{tuple(fs.shape)}), so no checksum applies")
    if expected is None:
        return "structure", ("no content hash known yet (one is recorded after a download "
                             "verifies by MD5)")
    if f.content_sha256 == expected:
        return "sha256", f"content SHA-256 matches ({origin})"
    return "mismatch", (f"content SHA-256 {f.content_sha256[:12]}... differs from the "
                        f"{origin} {expected[:12]}...")


def _check_structure(spec: DatasetSpec, arrays: dict[str, np.ndarray], paths: dict[str, Path],
                    where: str) -> None:
    """Raise BackproplabError unless the four arrays form a consistent image dataset."""
    for role, arr in arrays.items():
        name = paths[role].name
        if role.endswith("images"):
            if arr.dtype != np.uint8 or arr.ndim != 3 or 0 in arr.shape[1:]:
                raise BackproplabError(
                    f"{spec.name} in {where}: {name} holds {arr.dtype} data of shape "
                    f"{arr.shape}, not uint8 images (n, rows, cols); use the image file there"
                )
        elif arr.dtype != np.uint8 or arr.ndim != 1:
            raise BackproplabError(
                f"{spec.name} in {where}: {name} holds {arr.dtype} data of shape {arr.shape}, "
                "not uint8 labels (n,); use the label file there"
            )
    for split in ("train", "test"):
        im, lb = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if im.shape[0] != lb.shape[0]:
            raise BackproplabError(
                f"{spec.name} in {where}: {paths[f'{split}_images'].name} holds {im.shape[0]} "
                f"images but {paths[f'{split}_labels'].name} holds {lb.shape[0]} labels; "
                "use image and label files from the same set"
            )
        if im.shape[0] == 0:
            raise BackproplabError(f"{spec.name} in {where}: {paths[f'{split}_images'].name} "
                                   "holds no images; use a non-empty file")
        top = int(lb.max())
        if top >= spec.n_classes:
            raise BackproplabError(
                f"{spec.name} in {where}: {paths[f'{split}_labels'].name} has label {top}, "
                f"outside 0-{spec.n_classes - 1}; use the dataset's own label file"
            )
    tr, te = arrays["train_images"].shape[1:], arrays["test_images"].shape[1:]
    if tr != te:
        raise BackproplabError(f"{spec.name} in {where}: training images are {tr[0]}x{tr[1]} but "
                               f"test images {te[0]}x{te[1]}; use files from the same set")


def verify_location(spec: DatasetSpec | str, location: Location, record: bool = True,
                    ) -> Verification:
    """Read and check the four files at ``location``.

    No file may declare more data than the dataset's canonical file holds
    (:attr:`~backproplab.data.catalog.FileSpec.max_data_bytes`), so a damaged
    or hostile file is refused before it is decompressed.

    Parameters
    ----------
    spec : DatasetSpec or str
        The dataset or its name.
    location : Location
        Where its files are.
    record : bool, default True
        When a file matches its published MD5, record its content SHA-256 in
        the cache (for datasets without built-in content hashes), so that
        re-compressed copies can be checked later.

    Returns
    -------
    Verification

    Raises
    ------
    BackproplabError
        For an unreadable or damaged file, or four arrays that do not form a
        consistent image dataset.
    """
    spec = get_spec(spec)
    return check_files(spec, location, _read(spec, location), record)


def _read(spec: DatasetSpec, location: Location) -> dict[str, IdxFile]:
    """The four files at ``location``, read within the dataset's bounds."""
    return {fs.role: read_idx_file(location.files[fs.role], fs.max_data_bytes, fs.limit_reason)
            for fs in spec.files}


def _other_dataset(spec: DatasetSpec, files: dict[str, IdxFile]) -> DatasetSpec | None:
    """The catalog dataset other than ``spec`` whose known content one of ``files``
    has, or ``None``: MNIST and Fashion-MNIST name their files alike, so a folder of
    one is found as the other."""
    for role, f in files.items():
        if tuple(f.array.shape) != tuple(spec.file(role).shape):
            continue  # a subset: no content hash applies
        for other in CATALOG.values():
            if other.name != spec.name and known_sha256(other, role)[0] == f.content_sha256:
                return other
    return None


def other_dataset(spec: DatasetSpec | str, location: Location) -> str | None:
    """Which other dataset the files found for ``spec`` at ``location`` are.

    Parameters
    ----------
    spec : DatasetSpec or str
        The dataset looked for.
    location : Location
        Where its files were found.

    Returns
    -------
    str or None
        The name of the catalog dataset whose published content the files hold
        (``"fashion-mnist"`` for Fashion-MNIST's files in a folder searched for
        MNIST), or ``None``.

    Raises
    ------
    BackproplabError
        For an unreadable or damaged file.
    """
    spec = get_spec(spec)
    other = _other_dataset(spec, _read(spec, location))
    return None if other is None else other.name


def check_files(spec: DatasetSpec, location: Location, files: dict[str, IdxFile],
                record: bool = True) -> Verification:
    """Check four files already read (see :func:`verify_location`, which reads them).

    A download hands over the files it fetched and verified, so that each is read
    and checked once.

    Parameters
    ----------
    spec : DatasetSpec
        The dataset.
    location : Location
        Where the files are.
    files : dict of str to IdxFile
        Role -> the file as read.
    record : bool, default True
        As in :func:`verify_location`.

    Returns
    -------
    Verification

    Raises
    ------
    BackproplabError
        When the four arrays do not form a consistent image dataset, or are
        another dataset's (Fashion-MNIST's files found for MNIST).
    """
    arrays = {r: f.array for r, f in files.items()}
    _check_structure(spec, arrays, location.files, str(location.directory))
    checks = {}
    for role, f in files.items():
        status, detail = check_content(spec.file(role), f, *known_sha256(spec, role))
        checks[role] = FileCheck(role, f.path, status, detail, tuple(f.array.shape))
    other = _other_dataset(spec, {r: f for r, f in files.items()
                                  if checks[r].status not in VERIFIED})
    if other is not None:
        raise BackproplabError(
            f"the {spec.name} files found in {location.directory} are {other.name}'s, not "
            f"{spec.name}'s (their content is {other.name}'s published data); pass "
            f"dataset='{other.name}' to use them, or put {spec.name}'s own files there",
            settings=("dataset",))
    if record:
        to_record = {r: files[r].content_sha256 for r, c in checks.items()
                     if c.status == "md5" and spec.file(r).sha256 is None}
        if to_record:
            try:
                record_hashes(spec, to_record)
            except OSError:
                pass  # a read-only cache only means the hash is not remembered
    return Verification(spec, location, checks, arrays)

__all__ = ["VERIFIED", "FileCheck", "Verification", "check_content", "check_files",
           "other_dataset", "verify_location"]
