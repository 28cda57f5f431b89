"""Z-Image worker: a long-lived process that loads the model once and runs jobs.

The TypeScript server owns HTTP, queueing, encoding and storage; this process only
runs the pipeline. It talks frames (zimage_protocol.py) over stdin/stdout and logs
to stderr, which the server forwards to its log line by line.

Which module drives the model is chosen by ZIMAGE_PIPELINE_MODULE: the default
`zimage_backend` (torch + diffusers), or a path to a stand-in such as
python/testing/fake_pipeline.py, which needs only the standard library so the whole
worker can be tested without a GPU.
"""
import logging
import os
import platform
import queue
import sys
import threading
import time
import traceback


def setup_stdio():
    """Keeps a private duplicate of fd 1 for frames and points fd 1 and sys.stdout at stderr,
    so stray prints (Python or C libraries) can never corrupt the protocol stream."""
    proto_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(proto_fd, "wb")


PROTOCOL_OUT = setup_stdio()
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from zimage_loader import load_module  # noqa: E402
from zimage_protocol import FrameWriter, read_frame  # noqa: E402
from zimage_runner import Canceled, JobError, Runner, classify_error  # noqa: E402

log = logging.getLogger("zimage.worker")


def env_flag(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


class WorkerConfig:
    """Everything the server passes down, as environment variables named like its options."""

    def __init__(self, env):
        self.model = env.get("ZIMAGE_MODEL") or "Tongyi-MAI/Z-Image-Turbo"
        self.edit_model = env.get("ZIMAGE_EDIT_MODEL") or ""
        self.device = env.get("ZIMAGE_DEVICE") or "cuda"
        self.offload = env.get("ZIMAGE_OFFLOAD") or "auto"
        self.compile = env_flag("ZIMAGE_COMPILE", False)
        self.attention = env.get("ZIMAGE_ATTENTION") or "sdpa"
        self.vae_tiling = env.get("ZIMAGE_VAE_TILING") or "auto"
        self.random_weights = env_flag("ZIMAGE_RANDOM_WEIGHTS", False)
        self.warmup = env_flag("ZIMAGE_WARMUP", True)
        self.heartbeat_seconds = float(env.get("ZIMAGE_HEARTBEAT_SECONDS") or 2.0)
        self.pipeline_module = env.get("ZIMAGE_PIPELINE_MODULE") or "zimage_backend"


class Control:
    """Reads frames from stdin on a thread, so a cancel is seen while the main thread is busy in the model."""

    def __init__(self, stream):
        self.jobs = queue.Queue()
        self.cancel = threading.Event()
        self._current = None
        # Ids canceled before their run began: the reader thread can see a cancel before
        # the main thread picks up the run it belongs to.
        self._canceled = set()
        self._lock = threading.Lock()
        self._stream = stream
        threading.Thread(target=self._read, name="zimage-stdin", daemon=True).start()

    def begin(self, job_id):
        with self._lock:
            self._current = job_id
            self.cancel.clear()
            if job_id in self._canceled:
                self.cancel.set()

    def end(self):
        with self._lock:
            self._canceled.discard(self._current)
            self._current = None
            self.cancel.clear()

    def _read(self):
        try:
            while True:
                frame = read_frame(self._stream)
                if frame is None:
                    break
                header, payload = frame
                kind = header.get("type")
                if kind == "run":
                    self.jobs.put((header, payload))
                elif kind == "cancel":
                    with self._lock:
                        if len(self._canceled) > 1000:  # cancels that raced a finished job
                            self._canceled.clear()
                        self._canceled.add(header.get("id"))
                        if header.get("id") == self._current:
                            self.cancel.set()
                elif kind == "shutdown":
                    self.jobs.put(None)
                    return
        except Exception:
            traceback.print_exc()
        # stdin closed: the server is gone, so is our reason to hold GPU memory.
        log.info("stdin closed; exiting")
        os._exit(0)


def heartbeat(writer, interval):
    while True:
        time.sleep(interval)
        writer.send({"type": "heartbeat"})


def main():
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    writer = FrameWriter(PROTOCOL_OUT)
    cfg = WorkerConfig(os.environ)
    writer.send({"type": "hello", "pid": os.getpid(), "python": platform.python_version()})
    control = Control(sys.stdin.buffer)
    threading.Thread(target=heartbeat, args=(writer, cfg.heartbeat_seconds), name="zimage-heartbeat", daemon=True).start()

    try:
        backend = load_module(cfg.pipeline_module)
        log.info("loading %s on %s with %s", cfg.model, cfg.device, cfg.pipeline_module)
        started = time.monotonic()
        loaded = backend.load(cfg, log)
        runner = Runner(backend, loaded, writer, log)
        if cfg.warmup:
            runner.warmup(compile_size=cfg.compile)
        info = runner.describe()
        info["load_seconds"] = round(time.monotonic() - started, 3)
    except BaseException as exc:  # noqa: BLE001 - every load failure must reach the server
        traceback.print_exc()
        code, message, _ = classify_error(exc)
        writer.send({"type": "load_error", "code": code, "message": message})
        sys.stderr.flush()
        os._exit(3)
    writer.send(dict(info, type="ready"))
    log.info("ready: %s", info)

    while True:
        item = control.jobs.get()
        if item is None:
            break
        header, payload = item
        job_id = header["id"]
        control.begin(job_id)
        failed = True
        try:
            runner.run(header, payload, control.cancel)
            failed = False
            writer.send({"type": "done", "id": job_id})
        except Canceled:
            writer.send({"type": "canceled", "id": job_id})
        except JobError as exc:
            writer.send({"type": "error", "id": job_id, "code": exc.code, "message": str(exc), "retryable": exc.retryable})
        except BaseException as exc:  # noqa: BLE001
            traceback.print_exc()
            code, message, retryable = classify_error(exc)
            writer.send({"type": "error", "id": job_id, "code": code, "message": message, "retryable": retryable})
            if code == "engine_crashed":
                # The CUDA context is unusable after such errors; a fresh process is the only cure.
                sys.stderr.flush()
                os._exit(70)
        finally:
            runner.after_job(failed)
            control.end()
    log.info("shutdown requested; exiting")
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
