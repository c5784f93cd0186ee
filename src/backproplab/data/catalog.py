"""The image datasets backproplab knows, and where it looks for their files.

Each dataset is four IDX files (training images and labels, test images and
labels). The tool looks for them, in this order:

1. ``--data-dir DIR`` (when given, only there) or the ``BACKPROPLAB_DATA_DIR``
   environment variable (then the other places follow);
2. the cache, ``$XDG_CACHE_HOME/backproplab/NAME`` (default
   ``~/.cache/backproplab/NAME``), where downloads go;
3. well-known system locations, such as ``/usr/share/datasets/fashion-mnist``
   (Debian's package ``dataset-fashion-mnist``);
4. and only then a download (see :mod:`backproplab.data.download`).

Inside a data folder the files may sit directly in it, in ``DIR/NAME`` or in a
torchvision-style ``DIR/MNIST/raw``; each may be gzip (``*-ubyte.gz``) or raw
(``*-ubyte``, also ``train-images.idx3-ubyte``).
"""

from __future__ import annotations

import math
import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from backproplab.data.idx import gzip_bound
from backproplab.errors import BackproplabError
from backproplab.fileio import atomic_write_json, read_json

#: The four files of a dataset, in the usual order.
ROLES = ("train_images", "train_labels", "test_images", "test_labels")

#: Environment variables read here.
ENV_DATA_DIR = "BACKPROPLAB_DATA_DIR"
ENV_OFFLINE = "BACKPROPLAB_OFFLINE"
#: Name of the small JSON file in the cache holding content hashes recorded after
#: MD5-verified downloads (for datasets whose content hashes are not built in).
RECORDED_HASHES = "content-sha256.json"


@dataclass(frozen=True)
class FileSpec:
    """One of a dataset's four files.

    Attributes
    ----------
    role : str
        Which file it is (``"train_images"``, ``"test_labels"`` ...).
    stem : str
        The file name without ``.gz``.
    md5 : str or None
        The published MD5 of the gzip file as distributed.
    sha256 : str or None
        The SHA-256 of the decompressed IDX bytes (``None`` where not known yet:
        it is then recorded after a download verified by MD5).
    shape : tuple of int
        The canonical array shape.
    size : int or None, default None
        The published gzip file's length in bytes (``None`` where not known).
    """

    role: str
    stem: str
    md5: str | None
    sha256: str | None
    shape: tuple[int, ...]
    size: int | None = None

    @property
    def max_data_bytes(self) -> int:
        """The most data bytes a good copy holds: the canonical shape's, as uint8 (a
        subset holds fewer); the bound the IDX reader applies to the header."""
        return math.prod(self.shape)

    @property
    def limit_reason(self) -> str:
        """Where :attr:`max_data_bytes` comes from, for messages."""
        return f"the full {self.stem} holds shape {tuple(self.shape)} of uint8"

    def max_download_bytes(self) -> int:
        """The most bytes a download of this file may take before it is abandoned.

        Where only the published file is accepted (no content hash known) and its
        length is known, that length; otherwise (a re-compressed copy may be larger)
        the most a gzip file of the canonical content can take.
        """
        if self.size is not None and self.sha256 is None:
            return self.size
        bound = gzip_bound(4 + 4 * len(self.shape) + self.max_data_bytes)
        return max(bound, self.size or 0)

    @property
    def filename(self) -> str:
        """The name as distributed (gzip)."""
        return self.stem + ".gz"

    def candidates(self) -> tuple[str, ...]:
        """File names accepted for this file, in order of preference."""
        dotted = self.stem.replace("-idx", ".idx")  # train-images.idx3-ubyte
        names = [self.stem + ".gz", self.stem, dotted + ".gz", dotted]
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset of the catalog: its files, download mirrors and system locations.

    Attributes
    ----------
    name : str
        The dataset's name (``"mnist"``, ``"fashion-mnist"``).
    title : str
        Its name in prose.
    files : tuple of FileSpec
        Its four files.
    mirrors : tuple of str
        URL prefixes; a file's URL is ``prefix + filename``.
    system_dirs : tuple of str
        Folders where system packages install the files.
    homepage : str
        Where the dataset is published.
    classes : tuple of str
        Every label's name, in label order.
    folder_names : tuple of str, default ()
        Extra sub-folder names used by other tools (torchvision keeps
        ``ROOT/MNIST/raw``).
    """

    name: str
    title: str
    files: tuple[FileSpec, ...]
    mirrors: tuple[str, ...]
    system_dirs: tuple[str, ...]
    homepage: str
    classes: tuple[str, ...]
    folder_names: tuple[str, ...] = ()

    @property
    def n_classes(self) -> int:
        """How many classes the labels name (``len(classes)``)."""
        return len(self.classes)

    def file(self, role: str) -> FileSpec:
        for f in self.files:
            if f.role == role:
                return f
        raise KeyError(role)

    @property
    def filenames(self) -> tuple[str, ...]:
        return tuple(f.filename for f in self.files)


def _files(md5s, sha256s, sizes, n_train=60_000, n_test=10_000, rows=28, cols=28):
    stems = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    shapes = ((n_train, rows, cols), (n_train,), (n_test, rows, cols), (n_test,))
    return tuple(FileSpec(role, stem, md5, sha, shape, size) for role, stem, md5, sha, shape, size
                 in zip(ROLES, stems, md5s, sha256s, shapes, sizes))


MNIST = DatasetSpec(
    name="mnist",
    title="MNIST handwritten digits",
    files=_files(
        md5s=("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
              "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
        # Not built in: no genuine copy was at hand when this was written. The
        # hashes are recorded in the cache after a download verified by MD5, and
        # re-compressed copies are then checked against them.
        sha256s=(None, None, None, None),
        sizes=(9_912_422, 28_881, 1_648_877, 4_542),
    ),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",  # torchvision's first mirror
        "https://storage.googleapis.com/cvdf-datasets/mnist/",  # TensorFlow Datasets'
        "https://yann.lecun.com/exdb/mnist/",  # the original site
    ),
    system_dirs=("/usr/share/datasets/mnist", "/usr/local/share/datasets/mnist"),
    homepage="https://yann.lecun.com/exdb/mnist/",
    classes=tuple(str(d) for d in range(10)),
    folder_names=("MNIST",),
)

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    title="Fashion-MNIST (Zalando article images)",
    files=_files(
        md5s=("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
              "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
        sha256s=("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                 "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                 "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                 "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
        sizes=(26_421_880, 29_515, 4_422_102, 5_148),
    ),
    mirrors=(
        # the published bucket (its website endpoint is plain HTTP; this is its HTTPS one)
        "https://fashion-mnist.s3.eu-central-1.amazonaws.com/",
        # the files as committed to the dataset's repository
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    system_dirs=("/usr/share/datasets/fashion-mnist", "/usr/local/share/datasets/fashion-mnist"),
    homepage="https://github.com/zalandoresearch/fashion-mnist",
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
             "Sneaker", "Bag", "Ankle boot"),
    folder_names=("FashionMNIST", "fashion"),
)

#: Datasets by name.
CATALOG: dict[str, DatasetSpec] = {s.name: s for s in (MNIST, FASHION_MNIST)}


def get_spec(name: str | DatasetSpec) -> DatasetSpec:
    """The catalog entry for ``name``.

    Parameters
    ----------
    name : str or DatasetSpec
        A dataset's name; a :class:`DatasetSpec` passes through unchanged.

    Returns
    -------
    DatasetSpec

    Raises
    ------
    BackproplabError
        For a name the catalog does not hold.

    Examples
    --------
    >>> get_spec("mnist").n_classes
    10
    """
    if isinstance(name, DatasetSpec):
        return name
    try:
        return CATALOG[name]
    except KeyError:
        raise BackproplabError(
            f"unknown image dataset {name!r}; choose one of {', '.join(CATALOG)}"
        ) from None


def mirrors(spec: DatasetSpec) -> tuple[str, ...]:
    """The download mirrors for ``spec``, in order.

    The environment variable ``BACKPROPLAB_MIRRORS_<NAME>`` (name upper-cased,
    ``-`` as ``_``, e.g. ``BACKPROPLAB_MIRRORS_FASHION_MNIST``) replaces the list:
    URL prefixes separated by spaces or commas (``file://`` works too).

    Parameters
    ----------
    spec : DatasetSpec
        The dataset.

    Returns
    -------
    tuple of str
        URL prefixes.

    Raises
    ------
    BackproplabError
        If the variable holds something that is not a URL prefix.
    """
    env = os.environ.get(mirror_env_var(spec))
    if not (env and env.strip()):
        return spec.mirrors
    urls = tuple(u for u in env.replace(",", " ").split() if u)
    for url in urls:
        problem = _url_problem(url)
        if problem:
            raise BackproplabError(
                f"{mirror_env_var(spec)} holds {url!r}, which is {problem}; give URL prefixes "
                "like https://example.org/mnist/ separated by spaces or commas")
    return urls


def _url_problem(url: str) -> str | None:
    """What is wrong with a mirror URL, in words, or None."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as exc:
        return f"a malformed URL ({exc})"
    if parts.scheme == "file" or (parts.scheme in ("http", "https") and parts.hostname):
        return None
    return "not an http://, https:// or file:// URL"


def mirror_env_var(spec: DatasetSpec) -> str:
    return "BACKPROPLAB_MIRRORS_" + spec.name.upper().replace("-", "_")


def offline() -> bool:
    """Whether downloads are off: ``BACKPROPLAB_OFFLINE`` is set to a true value.

    Returns
    -------
    bool
        False when it is unset, empty, ``0``, ``false`` or ``no``.
    """
    return os.environ.get(ENV_OFFLINE, "").strip().lower() not in ("", "0", "false", "no")


def cache_root() -> Path:
    """The cache folder of backproplab: ``$XDG_CACHE_HOME/backproplab``, default ``~/.cache/backproplab``.

    Returns
    -------
    pathlib.Path
        A relative ``XDG_CACHE_HOME`` is ignored.
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "backproplab"


def cache_dir(spec: DatasetSpec | str) -> Path:
    """The cache folder of one dataset (downloads go there).

    Parameters
    ----------
    spec : DatasetSpec or str
        The dataset or its name.

    Returns
    -------
    pathlib.Path
        ``cache_root() / name``.
    """
    return cache_root() / get_spec(spec).name


@dataclass
class Location:
    """Where a dataset's four files were found.

    Attributes
    ----------
    dataset : str
        The dataset's name.
    source : str
        ``"data-dir"`` (``--data-dir``), ``"env"`` (``BACKPROPLAB_DATA_DIR``),
        ``"cache"``, ``"system"`` or ``"download"``.
    directory : pathlib.Path
        The folder.
    files : dict of str to pathlib.Path
        Role -> file.
    """

    dataset: str
    source: str
    directory: Path
    files: dict[str, Path] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.directory} ({self.source})"


def _subfolders(spec: DatasetSpec, base: Path) -> list[Path]:
    """The folders under a user-given data folder that may hold the files."""
    out = [base, base / spec.name]
    for alias in spec.folder_names:
        out += [base / alias, base / alias / "raw"]
    return out


def search_path(spec: DatasetSpec | str, data_dir: str | os.PathLike | None = None,
                ) -> list[tuple[str, Path]]:
    """The ``(source, folder)`` pairs searched for ``spec``, in order.

    Without ``data_dir``: ``$BACKPROPLAB_DATA_DIR`` (and its dataset
    sub-folders), the cache, then the system folders.

    Parameters
    ----------
    spec : DatasetSpec or str
        The dataset or its name.
    data_dir : str, os.PathLike or None, default None
        Search only this folder (and its dataset sub-folders).

    Returns
    -------
    list of tuple
        ``(source, folder)`` with ``source`` as in :class:`Location`.
    """
    spec = get_spec(spec)
    if data_dir is not None:
        return [("data-dir", p) for p in _subfolders(spec, Path(data_dir).expanduser())]
    out: list[tuple[str, Path]] = []
    env = os.environ.get(ENV_DATA_DIR, "").strip()
    if env:
        out += [("env", p) for p in _subfolders(spec, Path(env).expanduser())]
    out.append(("cache", cache_dir(spec)))
    out += [("system", Path(d)) for d in spec.system_dirs]
    return out


def find_in(spec: DatasetSpec, folder: Path) -> dict[str, Path]:
    """The dataset's files present in ``folder``.

    Parameters
    ----------
    spec : DatasetSpec
        The dataset.
    folder : pathlib.Path
        The folder searched (each file as ``.gz`` or raw).

    Returns
    -------
    dict of str to pathlib.Path
        Role -> path; may hold fewer than four (none for a missing folder).
    """
    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    for f in spec.files:
        for name in f.candidates():
            p = folder / name
            if p.is_file():
                found[f.role] = p
                break
    return found


def locate(spec: DatasetSpec | str, data_dir: str | os.PathLike | None = None) -> Location | None:
    """The first folder of :func:`search_path` holding all four files, or ``None``.

    Parameters
    ----------
    spec : DatasetSpec or str
        The dataset or its name.
    data_dir : str, os.PathLike or None, default None
        Search only this folder (and its dataset sub-folders).

    Returns
    -------
    Location or None
        ``None`` when no folder holds all four files (never with ``data_dir``).

    Raises
    ------
    BackproplabError
        With ``data_dir``: when it is not a folder, holds only some of the
        files (naming the missing ones), or none of them.
    """
    spec = get_spec(spec)
    if data_dir is not None:
        base = Path(data_dir).expanduser()
        if not base.is_dir():
            raise BackproplabError(f"data_dir {base} is not a folder; pass the folder that "
                                   f"holds the {spec.name} files", settings=("data_dir",))
    partial: tuple[Path, dict] | None = None
    for source, folder in search_path(spec, data_dir):
        found = find_in(spec, folder)
        if len(found) == len(spec.files):
            return Location(spec.name, source, folder, found)
        if found and partial is None:
            partial = (folder, found)
    if data_dir is not None:
        if partial is not None:
            folder, found = partial
            missing = [f.filename for f in spec.files if f.role not in found]
            raise BackproplabError(
                f"{folder} holds only some of the {spec.name} files (missing: "
                f"{', '.join(missing)}); put all four there (.gz or raw)"
            )
        raise BackproplabError(
            f"no {spec.name} files in data_dir {data_dir}; put "
            f"{', '.join(spec.filenames)} (.gz or raw) there", settings=("data_dir",))
    return None


def looked_in(spec: DatasetSpec | str, data_dir=None) -> str:
    """The searched folders as one short comma-separated phrase (for messages).

    Of a user-given folder only the folder itself is named (its dataset
    sub-folders would clutter the sentence).

    Parameters
    ----------
    spec : DatasetSpec or str
        The dataset or its name.
    data_dir : str, os.PathLike or None, default None
        As in :func:`search_path`.

    Returns
    -------
    str
    """
    spec = get_spec(spec)
    seen = []
    previous = None
    for source, folder in search_path(spec, data_dir):
        if source in ("data-dir", "env") and previous == source:
            continue
        previous = source
        seen.append(str(folder))
    return ", ".join(dict.fromkeys(seen))


# --- content hashes recorded after MD5-verified downloads -------------------

def recorded_hashes_path() -> Path:
    return cache_root() / RECORDED_HASHES


def recorded_hashes() -> dict[str, dict[str, str]]:
    """Content SHA-256s recorded in the cache.

    Returns
    -------
    dict
        ``{dataset: {role: sha256}}``; empty when the file is missing or
        unreadable.
    """
    path = recorded_hashes_path()
    data = read_json(path)
    if not isinstance(data, dict):
        return {}
    return {k: {r: h for r, h in v.items() if isinstance(h, str)}
            for k, v in data.items() if isinstance(v, dict)}


def record_hashes(spec: DatasetSpec | str, hashes: dict[str, str]) -> None:
    """Store content SHA-256s of files verified by their published MD5 in the cache.

    Only roles without a built-in hash are stored; nothing is written when there
    is nothing new (the file is replaced atomically otherwise).

    Parameters
    ----------
    spec : DatasetSpec or str
        The dataset or its name.
    hashes : dict of str to str
        Role -> SHA-256 hex digest of the decompressed content.
    """
    spec = get_spec(spec)
    new = {r: h for r, h in hashes.items() if spec.file(r).sha256 is None}
    data = recorded_hashes()
    current = data.get(spec.name, {})
    if all(current.get(r) == h for r, h in new.items()):
        return
    data[spec.name] = {**current, **new}
    atomic_write_json(recorded_hashes_path(), data)


def known_sha256(spec: DatasetSpec | str, role: str) -> tuple[str | None, str]:
    """The expected content SHA-256 of a file and where it comes from.

    Parameters
    ----------
    spec : DatasetSpec or str
        The dataset or its name.
    role : str
        The file's role.

    Returns
    -------
    tuple
        ``(hex, "built-in")``, ``(hex, "recorded")`` or ``(None, "unknown")``.
    """
    spec = get_spec(spec)
    built_in = spec.file(role).sha256
    if built_in:
        return built_in, "built-in"
    rec = recorded_hashes().get(spec.name, {}).get(role)
    if rec:
        return rec, "recorded"
    return None, "unknown"


__all__ = [
    "CATALOG",
    "FASHION_MNIST",
    "MNIST",
    "ROLES",
    "DatasetSpec",
    "FileSpec",
    "Location",
    "cache_dir",
    "cache_root",
    "find_in",
    "get_spec",
    "known_sha256",
    "locate",
    "looked_in",
    "mirrors",
    "offline",
    "record_hashes",
    "recorded_hashes",
    "search_path",
]
