"""Reaching a Ray cluster: its address, a fast check that it answers, and the connection.

:func:`connect` connects the sweep's driver to the cluster at an address
(``--ray-address``, else ``$RAY_ADDRESS``) or starts a local instance; an
unreachable address fails within about ``connect_timeout`` seconds (a TCP check
of the address first, then Ray's own connection in a thread with a deadline)
with a :class:`BackproplabError` naming the address. :func:`preflight` checks
the same before a command writes anything. Running trials on the cluster is
:mod:`backproplab.sweeps.ray_executor`'s.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
from typing import Any

from backproplab.errors import BackproplabError, import_optional
from backproplab.sweeps.executors import check_trial_timeout
from backproplab.sweeps.lifetime import SweepTerminated

#: The variable Ray itself reads for a cluster address.
ADDRESS_ENV = "RAY_ADDRESS"
#: Ray's switch for token authentication; with an explicit address Ray only
#: sends a token when it is ``token`` (Ray's choice: we do not change it).
AUTH_MODE_ENV = "RAY_AUTH_MODE"
#: Seconds allowed for connecting to a cluster (overrides ``connect_timeout``).
CONNECT_TIMEOUT_ENV = "BACKPROPLAB_RAY_CONNECT_TIMEOUT"
#: Default seconds for Ray's connection to a cluster whose port answered.
DEFAULT_CONNECT_TIMEOUT = 20.0
#: Seconds for the TCP check of a cluster address.
PORT_CHECK_TIMEOUT = 5.0
#: Ports Ray listens on when an address names none: the GCS, and the Ray client.
DEFAULT_GCS_PORT = 6379
DEFAULT_CLIENT_PORT = 10001


def import_ray():
    """The ``ray`` module, or an error saying how to install it.

    Returns
    -------
    module
        :mod:`ray`.

    Raises
    ------
    BackproplabError
        If Ray is not installed (naming the extra to install, or
        ``--executor local``).
    """
    return import_optional("ray", package="Ray", extra="ray", needed_by="the ray executor",
                           otherwise="use --executor local")


def ray_in_use() -> bool:
    """Whether this process is already connected to Ray (then that connection is used).

    Returns
    -------
    bool
        False also when Ray is not installed or not imported yet.
    """
    ray = sys.modules.get("ray")
    return bool(ray is not None and ray.is_initialized())


def executor_options(executor: str, ray_address: str | None,
                     trial_timeout: float | str | None = None) -> dict[str, Any]:
    """:func:`make_executor`'s keyword options from ``--executor``, ``--ray-address``
    and ``--trial-timeout`` (``sweep`` and ``reproduce`` alike).

    Parameters
    ----------
    executor : str
        The ``--executor`` value.
    ray_address : str or None
        The ``--ray-address`` value, ``None`` when not given.
    trial_timeout : float, str or None, default None
        The ``--trial-timeout`` value (seconds), ``None`` for no limit.

    Returns
    -------
    dict
        ``address`` and ``trial_timeout`` (a float), each only when given.

    Raises
    ------
    BackproplabError
        If ``--ray-address`` comes without ``--executor ray``, or the timeout
        is not a positive number of seconds.
    """
    if ray_address is not None and executor != "ray":
        raise BackproplabError(
            f"--ray-address needs --executor ray (got --executor {executor}); add "
            "--executor ray or drop --ray-address")
    options: dict[str, Any] = {} if ray_address is None else {"address": ray_address}
    if trial_timeout is not None:
        options["trial_timeout"] = check_trial_timeout(trial_timeout)
    return options


def resolve_address(address: str | None) -> str | None:
    """The cluster address to use: ``address``, else ``$RAY_ADDRESS``, else ``None``.

    Parameters
    ----------
    address : str or None
        The address given; ``"local"`` (like nothing) means a local instance.

    Returns
    -------
    str or None
        The address, stripped, or ``None`` to start a local instance.

    Raises
    ------
    BackproplabError
        If ``$RAY_ADDRESS`` (used when ``address`` is ``None``) is malformed
        (:func:`split_address`): the message names the variable.
    """
    from_env = address is None
    if from_env:
        address = os.environ.get(ADDRESS_ENV)
    address = (address or "").strip()
    if not address or address == "local":
        return None
    if from_env:
        try:
            split_address(address)
        except BackproplabError as exc:
            problem = str(exc).split(";", 1)[0]
            raise BackproplabError(
                f"{problem}, and it comes from the environment variable {ADDRESS_ENV}; set "
                f"{ADDRESS_ENV} to the head node (HOST:6379 or ray://HOST:10001), unset it "
                "for a local Ray instance, or give --ray-address") from None
    return address


def split_address(address: str) -> tuple[str, int] | None:
    """The host and port a Ray address names.

    Parameters
    ----------
    address : str
        ``host:port``, ``[ipv6]:port`` or ``ray://host:port``; without a port,
        Ray's default port (:data:`DEFAULT_GCS_PORT`, or
        :data:`DEFAULT_CLIENT_PORT` for ``ray://``).

    Returns
    -------
    tuple or None
        ``(host, port)``, or ``None`` for ``"auto"``, which Ray resolves itself.

    Raises
    ------
    BackproplabError
        For a scheme other than ``ray://``, no host, or a port outside
        1..65535.

    Examples
    --------
    >>> split_address("10.0.0.5"), split_address("ray://head"), split_address("[::1]:7000")
    (('10.0.0.5', 6379), ('head', 10001), ('::1', 7000))
    """
    if address == "auto":
        return None
    scheme = address.split("://", 1)[0] if "://" in address else None
    if scheme is not None and scheme != "ray":
        raise BackproplabError(
            f"the Ray address {address!r} starts with {scheme}://, which Ray cannot connect a "
            "driver to (the dashboard's http:// address is for job submission); give the "
            "head node as HOST:6379 or ray://HOST:10001")
    client = address.startswith("ray://")
    rest = address[len("ray://"):] if client else address
    rest = rest.split("/", 1)[0]
    default = DEFAULT_CLIENT_PORT if client else DEFAULT_GCS_PORT
    if rest.startswith("["):  # [ipv6]:port
        host, _, tail = rest[1:].partition("]")
        port_text = tail[1:] if tail.startswith(":") else ""
    elif rest.count(":") == 1:
        host, port_text = rest.split(":")
    else:
        host, port_text = rest, ""
    if not host:
        raise BackproplabError(
            f"the Ray address {address!r} names no host; give one like 10.0.0.5:6379")
    if not port_text:
        return host, default
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise BackproplabError(
            f"the Ray address {address!r} has a bad port {port_text!r}; give one like "
            "10.0.0.5:6379")
    return host, port


def _check_reachable(address: str, timeout: float = PORT_CHECK_TIMEOUT) -> None:
    """Raise :class:`BackproplabError` unless a TCP connection to ``address``'s
    port opens within ``timeout`` seconds (Ray itself would retry for minutes)."""
    target = split_address(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout):
            pass
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise BackproplabError(
            f"cannot reach the Ray cluster at {address} ({reason}); check --ray-address "
            f"(or {ADDRESS_ENV}) and that the cluster runs (`ray start --head` on its "
            "head node)") from None


def preflight(address: str | None) -> None:
    """Fail fast, before a command writes anything, when Ray is missing or the
    cluster does not answer.

    The executor itself connects later. Nothing to check for a local instance.

    Parameters
    ----------
    address : str or None
        The cluster's address; ``None`` for ``$RAY_ADDRESS``, and without it
        (or with ``"local"``) a local instance.

    Raises
    ------
    BackproplabError
        If Ray is not installed, the address is malformed, or its port does
        not accept a TCP connection within :data:`PORT_CHECK_TIMEOUT` seconds.
    """
    import_ray()
    target = resolve_address(address)
    if target is not None:
        _check_reachable(target)


def _connect_with_deadline(ray, address: str, timeout: float, init_options: dict) -> None:
    """``ray.init(address)`` in a helper thread, given up after ``timeout`` s.

    Parameters
    ----------
    ray : module
        The ``ray`` module.
    address : str
        The cluster's address.
    timeout : float
        Seconds to wait for Ray's answer.
    init_options : dict
        More ``ray.init`` keyword options.

    Raises
    ------
    BackproplabError
        When there is no answer in time, or Ray refuses the connection.
    """
    box: dict[str, BaseException] = {}

    def target() -> None:
        try:
            ray.init(address=address, **init_options)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            box["error"] = exc

    # Ray warns that it cannot install its SIGTERM handler from a helper thread;
    # the driver does not need it (an interrupted sweep resumes on its next run)
    worker_log = logging.getLogger("ray._private.worker")
    quiet = _DropMessage("SIGTERM handler is not set")
    worker_log.addFilter(quiet)
    thread = threading.Thread(target=target, name="backproplab-ray-connect", daemon=True)
    try:
        thread.start()
        thread.join(timeout)
    finally:
        worker_log.removeFilter(quiet)
    if thread.is_alive():
        auth = "" if os.environ.get(AUTH_MODE_ENV, "").lower() == "token" else (
            f"; if the cluster uses token authentication (the default of `ray start`), set "
            f"{AUTH_MODE_ENV}=token and give its token (~/.ray/auth_token or RAY_AUTH_TOKEN)")
        raise BackproplabError(
            f"cannot reach the Ray cluster at {address}: no answer within {timeout:g} s "
            f"although its port is open (is it a Ray head node, with the same Ray version?); "
            f"check --ray-address (or {ADDRESS_ENV}){auth}")
    if "error" in box:
        exc = box["error"]
        text = " ".join(str(exc).split())[:300].rstrip(".") or type(exc).__name__
        raise BackproplabError(
            f"cannot connect to the Ray cluster at {address}: {text}; check --ray-address "
            f"(or {ADDRESS_ENV}) and that driver and cluster run the same Ray version")


class _DropMessage(logging.Filter):
    """A logging filter that drops records starting with ``prefix``.

    Parameters
    ----------
    prefix : str
        The start of the messages to drop (Ray's notices that ask nothing of the user).
    """

    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(self.prefix)


def connect_timeout(value: float | None) -> float:
    """Seconds allowed for connecting: ``$BACKPROPLAB_RAY_CONNECT_TIMEOUT``, else
    ``value``, else :data:`DEFAULT_CONNECT_TIMEOUT`.

    Parameters
    ----------
    value : float or None
        The executor's ``connect_timeout``.

    Returns
    -------
    float

    Raises
    ------
    BackproplabError
        When the variable is not a number, or the result is not positive.
    """
    text = os.environ.get(CONNECT_TIMEOUT_ENV)
    if text:
        try:
            value = float(text)
        except ValueError:
            raise BackproplabError(
                f"{CONNECT_TIMEOUT_ENV}={text!r} is not a number of seconds; "
                "give one like 20") from None
    value = DEFAULT_CONNECT_TIMEOUT if value is None else float(value)
    if not value > 0:
        raise BackproplabError(f"the Ray connect timeout must be positive, got {value:g}")
    return value


def connect(ray, address: str | None, *, cpus: int,
            timeout: float | None = None) -> tuple[str, bool, bool]:
    """Connect this process to the cluster at ``address`` (:func:`resolve_address`),
    or start a local Ray instance with ``cpus`` CPUs when there is none.

    Parameters
    ----------
    ray : module
        The ``ray`` module (:func:`import_ray`).
    address : str or None
        The cluster's address, ``None`` or ``"local"``.
    cpus : int
        CPUs of a local instance.
    timeout : float, optional
        Seconds for the connection (:func:`connect_timeout`).

    Returns
    -------
    (str, bool, bool)
        A description of the cluster, whether this call made the connection
        (and so should close it), and whether it started a local instance.

    Raises
    ------
    BackproplabError
        When the cluster cannot be reached or a local instance not started, or
        Ray is already connected in this process and another address is given.
    """
    if ray.is_initialized():
        if address is not None and resolve_address(address) is not None:
            raise BackproplabError(
                f"Ray is already initialized in this process, so the address "
                f"{address} cannot be used; leave the address out to use that "
                "connection, or call ray.shutdown() first")
        return "the Ray instance this process is connected to", False, False
    options = {"include_dashboard": False, "log_to_driver": False,
               "logging_level": "warning"}
    target = resolve_address(address)
    if target is None:
        # Ray's notice that the instance it starts uses a token (nothing to act
        # on here: this process started it and holds the token)
        auth_log = logging.getLogger("ray._private.authentication.authentication_token_setup")
        quiet = _DropMessage("Token authentication is enabled")
        auth_log.addFilter(quiet)
        sigterm = signal.getsignal(signal.SIGTERM)
        try:
            ray.init(address="local", num_cpus=cpus, **options)
        except SystemExit as exc:
            # a SIGTERM while ray.init runs meets the handler Ray sets there, which
            # raises SystemExit(SIGTERM): it is a SIGTERM of the command like any other
            if exc.code != signal.SIGTERM:
                raise
            raise SweepTerminated(f"terminated by signal {exc.code} while Ray started") from None
        except Exception as exc:  # noqa: BLE001 - any failure to start is the user's to fix
            text = " ".join(str(exc).split())[:300]
            raise BackproplabError(
                f"could not start a local Ray instance: {text}; check the Ray "
                "installation or give a running cluster with --ray-address") from None
        finally:
            auth_log.removeFilter(quiet)
            if sigterm is not None and threading.current_thread() is threading.main_thread():
                # Ray's own handler prints a stack dump and exits 1; the caller's stays
                signal.signal(signal.SIGTERM, sigterm)
        return f"a local Ray instance with {cpus} CPU(s)", True, True
    seconds = connect_timeout(timeout)
    _check_reachable(target, min(PORT_CHECK_TIMEOUT, seconds))
    _connect_with_deadline(ray, target, seconds, options)
    return f"the Ray cluster at {target}", True, False


__all__ = ["ADDRESS_ENV", "AUTH_MODE_ENV", "CONNECT_TIMEOUT_ENV", "DEFAULT_CLIENT_PORT",
           "DEFAULT_CONNECT_TIMEOUT", "DEFAULT_GCS_PORT", "PORT_CHECK_TIMEOUT",
           "connect", "connect_timeout", "executor_options", "import_ray", "preflight",
           "ray_in_use", "resolve_address", "split_address"]
