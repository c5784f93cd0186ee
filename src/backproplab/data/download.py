"""Downloading a dataset into the cache, safely.

Each file is fetched from the dataset's mirrors in order (see
:func:`backproplab.data.catalog.mirrors`; the ``BACKPROPLAB_MIRRORS_<NAME>``
environment variable replaces the list). The response is streamed into a
temporary file in the cache folder, with a progress bar, and abandoned as soon
as it grows past the most the file can take (its published size, or the size of
its canonical content gzipped: see
:meth:`~backproplab.data.catalog.FileSpec.max_download_bytes`); the file is
then checked once (complete length, IDX structure, then the published MD5 or
the known content hash through :func:`backproplab.data.verify.check_content`)
and only then moved over the final name with ``os.replace`` (through
:func:`backproplab.fileio.atomic_write_with`). A failed, corrupt or interrupted
download removes its temporary file and leaves whatever was in the cache
untouched; when every mirror fails, the error lists each mirror with its reason
and says how to place the files by hand.

No download ever happens at import time.
"""

from __future__ import annotations

import http.client
import math
import socket
import sys
import time
import urllib.error
import urllib.request
from contextlib import nullcontext
from pathlib import Path

from backproplab import __version__
from backproplab.data import catalog
from backproplab.data.catalog import DatasetSpec, FileSpec, Location, get_spec, known_sha256
from backproplab.data.idx import GZIP_MAGIC, IdxFile, inflate_idx, parse_idx, read_idx_file
from backproplab.data.verify import VERIFIED, check_content, check_files
from backproplab.errors import BackproplabError
from backproplab.fileio import atomic_write_with

CHUNK = 1 << 16


class MirrorFailed(Exception):
    """One mirror could not deliver one file.

    Parameters
    ----------
    reason : str
        Why (also the exception's message, as ``reason``).
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _cached(path: Path, spec: DatasetSpec, fs: FileSpec) -> IdxFile | None:
    """A cached file that already matches its published MD5 or known content hash, as
    read (``None`` for a missing, damaged or other file)."""
    try:
        if not path.is_file():
            return None
        f = read_idx_file(path, fs.max_data_bytes, fs.limit_reason)
    except (OSError, BackproplabError):
        return None
    return f if check_content(fs, f, *known_sha256(spec, fs.role))[0] in VERIFIED else None


def _url(base: str, filename: str) -> str:
    return base if base.endswith(filename) else base.rstrip("/") + "/" + filename


def _describe_error(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}".strip()
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return f"timed out after {timeout:g} s"
        return str(getattr(reason, "strerror", None) or reason)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, http.client.IncompleteRead):
        return f"connection closed early ({len(exc.partial)} bytes in the last read)"
    if isinstance(exc, http.client.HTTPException):
        return f"connection failed ({type(exc).__name__}: {exc})"
    if isinstance(exc, ValueError):
        return f"bad URL ({exc})"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


def _accept(data: bytes, fs: FileSpec, url: str, dest: Path) -> IdxFile:
    """The fetched bytes as the file ``dest`` will hold; MirrorFailed unless they are
    gzip IDX data that :func:`~backproplab.data.verify.check_content` verifies (the
    published MD5, or for a re-compressed copy the known content SHA-256)."""
    if data[:2] != GZIP_MAGIC:
        raise MirrorFailed("not gzip data (the file is stored under its .gz name)")
    try:
        content = inflate_idx(data, url, fs.max_data_bytes, fs.limit_reason)
        f = IdxFile(dest, parse_idx(content, url), True, data, content)
    except BackproplabError as exc:
        raise MirrorFailed(f"not a valid IDX file ({exc})") from None
    status, detail = check_content(fs, f, fs.sha256)
    if status not in VERIFIED:
        md5 = f"MD5 {f.file_md5} instead of the published {fs.md5}" if fs.md5 else "no MD5"
        raise MirrorFailed(f"{md5}; {detail}")
    return f


def fetch_file(url: str, dest: Path, fs: FileSpec, timeout: float = 60.0, progress=None,
               ) -> IdxFile:
    """Fetch ``url`` into ``dest`` atomically, verified against ``fs``.

    The response is streamed in chunks and never held beyond
    :meth:`FileSpec.max_download_bytes`.

    Parameters
    ----------
    url : str
        The file's URL.
    dest : pathlib.Path
        Where it goes (replaced only by a verified file).
    fs : FileSpec
        What the file must be (size bound, MD5 or content SHA-256, shape).
    timeout : float, default 60.0
        Seconds the mirror may stay silent.
    progress : rich.progress.Progress or None, default None
        A progress display to add the file's task to.

    Returns
    -------
    IdxFile
        The file as now at ``dest`` (its bytes, array and hashes), verified.

    Raises
    ------
    MirrorFailed
        When the transfer or the verification fails, or the mirror sends (or
        announces) more than the bound; ``dest`` is untouched and no temporary
        file is left.
    """
    try:
        req = urllib.request.Request(url, headers={"User-Agent": f"backproplab/{__version__}"})
        resp = urllib.request.urlopen(req, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 (any network error means "this mirror failed")
        raise MirrorFailed(_describe_error(exc, timeout)) from None
    limit = fs.max_download_bytes()
    with resp:
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if total is not None and total > limit:
            raise MirrorFailed(f"announces {total} bytes, more than the {limit} bytes "
                               f"{fs.filename} can take")
        task = progress.add_task(fs.filename, total=total) if progress is not None else None
        received = {}

        def stream(fh) -> None:
            chunks = []
            n = 0
            try:
                while True:
                    chunk = resp.read(min(CHUNK, limit + 1 - n))
                    if not chunk:
                        break
                    n += len(chunk)
                    if n > limit:
                        raise MirrorFailed(f"sent more than the {limit} bytes {fs.filename} "
                                           "can take (a broken or hostile mirror); abandoned")
                    fh.write(chunk)
                    chunks.append(chunk)
                    if task is not None:
                        progress.update(task, completed=n)
            except MirrorFailed:
                raise
            except Exception as exc:  # noqa: BLE001 (as above)
                raise MirrorFailed(f"{_describe_error(exc, timeout)} after {n} bytes") from None
            if total is not None and n != total:
                raise MirrorFailed(f"connection closed after {n} of {total} bytes")
            received["file"] = _accept(b"".join(chunks), fs, url, dest)

        try:
            atomic_write_with(dest, stream)
        finally:
            if task is not None:
                progress.remove_task(task)
    return received["file"]


def _progress(enabled: bool | None):
    """A rich progress display on stderr, or a null context."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return nullcontext(None)
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                    TransferSpeedColumn(), TimeRemainingColumn(),
                    console=Console(stderr=True), transient=True)


#: Temporary files older than this (seconds) are left-overs of a killed download.
STALE_AFTER = 24 * 3600


def _remove_stale_temporaries(folder: Path, spec: DatasetSpec, older_than: float = STALE_AFTER,
                             ) -> list[Path]:
    """Delete temporary files that a killed download left in ``folder``; returns them.

    A download that is interrupted normally removes its own temporary file; only
    a process killed outright (SIGKILL, power loss) leaves one behind. Recent
    ones are kept: another process may still be writing them.
    """
    removed = []
    now = time.time()
    for fs in spec.files:
        for tmp in folder.glob(f".{fs.filename}.*.tmp"):
            try:
                if now - tmp.stat().st_mtime > older_than:
                    tmp.unlink()
                    removed.append(tmp)
            except OSError:
                pass
    return removed


def manual_instructions(spec: DatasetSpec) -> str:
    """How to place a dataset's files by hand (a clause ending a sentence).

    Parameters
    ----------
    spec : DatasetSpec
        The dataset.

    Returns
    -------
    str
        Names the files, a mirror (or the homepage) and the folders they may go
        into.
    """
    first = next(iter(catalog.mirrors(spec)), spec.homepage)
    return (f"download {', '.join(spec.filenames)} by hand (for example from {first}) into "
            f"{catalog.cache_dir(spec)} or into a folder you pass as data_dir")


def download(name: str | DatasetSpec, *, force: bool = False, mirrors=None,
             progress: bool | None = None, timeout: float = 60.0,
             log=None) -> Location:
    """Download a dataset's four files into the cache and return their location.

    Files already in the cache that match their published MD5 or known content
    hash are kept (unless ``force``); a good cached file is never replaced by a bad download. The
    content hashes of MD5-verified files are recorded
    (:func:`~backproplab.data.catalog.record_hashes`).

    Parameters
    ----------
    name : str or DatasetSpec
        The dataset.
    force : bool, default False
        Download every file again.
    mirrors : sequence of str or None, default None
        Replaces the mirror list (URL prefixes, ``file://`` works).
    progress : bool or None, default None
        Show a progress bar; ``None``: when stderr is a terminal.
    timeout : float, default 60.0
        Seconds a mirror may stay silent.
    log : callable or None, default None
        Called with one line per file (e.g. ``print``).

    Returns
    -------
    Location
        The cache folder, ``source="cache"``.

    Raises
    ------
    BackproplabError
        For a bad ``timeout``, when downloads are off (``BACKPROPLAB_OFFLINE``)
        or no mirror is configured, when the cache cannot be written, or when a
        file cannot be had from any mirror.
    """
    spec = get_spec(name)
    if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
        raise BackproplabError(f"the download timeout must be a positive number of seconds, "
                               f"got {timeout!r}; give one like 60")
    if catalog.offline():
        raise BackproplabError(
            f"cannot download {spec.name}: downloads are off ({catalog.ENV_OFFLINE} is set); "
            f"unset it, or {manual_instructions(spec)}", settings=("data_dir",))
    urls = tuple(mirrors) if mirrors is not None else catalog.mirrors(spec)
    if not urls:
        raise BackproplabError(f"no download mirrors configured for {spec.name}; "
                               f"{manual_instructions(spec)}", settings=("data_dir",))
    folder = catalog.cache_dir(spec)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(folder, spec)
        files = _download_files(spec, folder, urls, force, progress, timeout, log)
    except OSError as exc:  # the cache itself, not a mirror (those become MirrorFailed)
        raise BackproplabError(
            f"cannot write {spec.name}'s files into the cache folder {folder} "
            f"({exc.strerror or exc}); set XDG_CACHE_HOME to a writable folder, or put "
            f"{', '.join(spec.filenames)} into a folder you pass as data_dir",
            settings=("data_dir",)) from None
    location = Location(spec.name, "cache", folder, {r: f.path for r, f in files.items()})
    # the files as fetched or found (each read and verified once); checks that the four
    # agree and records the content hashes of MD5-verified files where none is built in
    check_files(spec, location, files, record=True)
    return location


def _download_files(spec: DatasetSpec, folder: Path, urls, force: bool, progress,
                    timeout: float, log) -> dict[str, IdxFile]:
    """Fetch each of ``spec``'s files missing from ``folder`` (or all, with ``force``);
    role -> each file as read and verified."""
    files = {}
    with _progress(progress) as bar:
        for fs in spec.files:
            dest = folder / fs.filename
            cached = None if force else _cached(dest, spec, fs)
            if cached is not None:
                files[fs.role] = cached
                if log:
                    log(f"{fs.filename}: already in the cache, verified")
                continue
            failures = []
            for base in urls:
                url = _url(base, fs.filename)
                try:
                    files[fs.role] = fetch_file(url, dest, fs, timeout=timeout, progress=bar)
                except MirrorFailed as exc:
                    failures.append(f"{url}: {exc.reason}")
                    continue
                if log:
                    log(f"{fs.filename}: {len(files[fs.role].file_bytes)} bytes from {url}, "
                        "verified")
                break
            else:
                raise BackproplabError(
                    f"could not download {spec.name}'s {fs.filename} from any mirror ("
                    + "; ".join(failures) + f"); {manual_instructions(spec)}",
                    settings=("data_dir",))
    return files


__all__ = ["MirrorFailed", "download", "fetch_file", "manual_instructions"]
