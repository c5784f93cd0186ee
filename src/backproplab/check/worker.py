"""The child process that runs one learner's file (started by :mod:`backproplab.check.runner`).

Run as a script, ``python worker.py FILE TIMEOUT_S MEMORY_MB``, it limits its
own CPU time, memory and file sizes, reads the probes as one JSON object on
stdin, imports the learner's file, calls its functions on every probe and
writes one JSON object with what they returned (as plain lists of numbers) to
its stdout. The learner's own output (``print``) goes to stderr, so it cannot
mix with that object. Standard library only (NumPy is imported only to pass
arrays to ``backward_batch``); it imports nothing from backproplab, so the
learner's process holds none of the project's state.
"""

import importlib.util
import json
import math
import os
import sys
import traceback

#: The functions a learner's file may define, in the order they are called.
FUNCTIONS = ("forward", "backward", "backward_batch")
#: The keys read from each function's result (others are ignored).
KEYS = {
    "forward": ("k", "h", "o", "y"),
    "backward": ("loss", "do", "dc", "dV", "dh", "dk", "db", "dW"),
    "backward_batch": ("loss", "dc", "dV", "db", "dW"),
}
#: Largest number of entries read from one returned value.
MAX_ENTRIES = 100_000


def limit_resources(timeout_s, memory_mb):
    """Cap this process's CPU seconds, address space and file sizes (where the system can)."""
    try:
        import resource
    except ImportError:  # not a POSIX system: the parent's wall-clock limit still holds
        return
    cpu = math.ceil(timeout_s) + 1
    limits = [(resource.RLIMIT_CPU, cpu), (resource.RLIMIT_FSIZE, 16 * 2**20)]
    if memory_mb > 0:
        limits.append((resource.RLIMIT_AS, int(memory_mb) * 2**20))
    for which, value in limits:
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):  # a hard limit already lower: keep it
            pass


def plain(value, budget):
    """``value`` as nested lists of floats, or ``{"type": name}`` where it is something else."""
    if hasattr(value, "tolist") and callable(value.tolist):
        value = value.tolist()
    if isinstance(value, bool):
        return {"type": "bool"}
    if isinstance(value, (int, float)):
        budget[0] -= 1
        return float(value)
    if isinstance(value, (list, tuple)):
        if budget[0] - len(value) < 0:
            return {"type": "too large"}
        return [plain(v, budget) for v in value]
    return {"type": type(value).__name__}


def error_record(exc):
    """The exception's type, message and the learner's part of its traceback."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if os.path.abspath(f.filename) != os.path.abspath(__file__)
              and not f.filename.startswith("<frozen")]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc)
    code = exc.code if isinstance(exc, SystemExit) else None
    return {"type": type(exc).__name__, "message": str(exc)[:500],
            "traceback": "".join(lines)[-4000:], "exit_code": code if code is None
            or isinstance(code, int) else str(code)}


def call(fn, name, probe):
    """Call ``fn`` on ``probe`` with fresh arguments; returns a record for the parent."""
    params = [probe[k] for k in ("W", "b", "V", "c")]
    if name == "backward_batch":
        import numpy as np

        args = [np.asarray(probe["X"], dtype=float), np.asarray(probe["T"], dtype=int)]
        args += [np.asarray(p, dtype=float) for p in params]
    else:
        x = list(probe["X"][0])
        args = [x, *[json.loads(json.dumps(p)) for p in params]]
        if name == "backward":
            args.insert(1, int(probe["T"][0]))
    try:
        out = fn(*args)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the learner's mistake, reported
        return {"error": error_record(exc)}
    if not (hasattr(out, "keys") and hasattr(out, "__getitem__")):
        return {"returned": "None" if out is None else f"a {type(out).__name__}"}
    try:
        budget = [MAX_ENTRIES]
        keys = [str(k) for k in out.keys()]  # noqa: SIM118 - any mapping, not only a dict
        return {"keys": keys, "value": {k: plain(out[k], budget) for k in KEYS[name]
                                        if k in keys}}
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a mapping that fails to read
        return {"error": error_record(exc)}


def run_probes(module, found, probes, calls):
    """Call each function on its probes; stop at the first failure a probe does not tolerate."""
    for i, probe in enumerate(probes):
        for name in found:
            if (name == "backward_batch") == probe["batch"]:
                record = call(getattr(module, name), name, probe)
                calls.append({"probe": i, "function": name, **record})
                if "error" in record and not probe.get("tolerate_errors"):
                    return


def main(argv):
    """Run the learner's file named in ``argv`` on the probes read from stdin."""
    path, timeout_s, memory_mb = argv[1], float(argv[2]), int(argv[3])
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]  # not importable
    probes = json.loads(sys.stdin.read())
    result_stream = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # the learner's prints go to stderr
    limit_resources(timeout_s, memory_mb)
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    result = {"calls": []}
    try:
        spec = importlib.util.spec_from_file_location("learner", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - reported as unusable
        result["import_error"] = error_record(exc)
    else:
        found = [n for n in FUNCTIONS if callable(getattr(module, n, None))]
        result["functions"] = found
        run_probes(module, found, probes, result["calls"])
    sys.stdout.flush()
    result_stream.write(json.dumps(result))
    result_stream.flush()
    os._exit(0)  # skip the learner's atexit handlers and threads


if __name__ == "__main__":
    main(sys.argv)
