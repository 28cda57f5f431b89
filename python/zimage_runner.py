"""Drives a Z-Image pipeline for one job: arguments, seeds, progress, cancel, errors.

Nothing here imports torch: everything that touches tensors or PIL lives in the backend
module (zimage_backend.py, or the stdlib-only fake used by tests), so the exact code
path that runs on the GPU is also the one the tests run.
"""
import inspect
import sys


class Canceled(Exception):
    """The server asked to stop this job."""


class JobError(Exception):
    """A failure of this job only, with the code the task will carry."""

    def __init__(self, code, message, retryable=False):
        super().__init__(message)
        self.code = code
        self.retryable = retryable


FATAL_MARKERS = ("CUDA error", "illegal memory access", "device-side assert", "unspecified launch failure",
                 "CUBLAS_STATUS_EXECUTION_FAILED", "CUDNN_STATUS_EXECUTION_FAILED")


def is_oom(exc):
    """torch.cuda.OutOfMemoryError by class or by message (also MPS and CPU allocator failures)."""
    torch = sys.modules.get("torch")
    oom_class = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None) if torch else None
    if oom_class is not None and isinstance(exc, oom_class):
        return True
    if type(exc).__name__ in ("OutOfMemoryError", "MemoryError"):
        return True
    text = str(exc)
    return "CUDA out of memory" in text or "out of memory" in text.lower()


def classify_error(exc):
    """(code, message, retryable) for an exception raised by the pipeline."""
    text = (str(exc) or type(exc).__name__).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if is_oom(exc):
        return "out_of_memory", first, False
    if any(marker in text for marker in FATAL_MARKERS):
        return "engine_crashed", first, True
    if isinstance(exc, (ValueError, TypeError)):
        return "invalid_request", "%s: %s" % (type(exc).__name__, first), False
    return "engine_error", "%s: %s" % (type(exc).__name__, first), False


def accepted_kwargs(fn, kwargs):
    """Drops arguments this pipeline version does not take (cfg_normalization is newer than 0.36)."""
    params = inspect.signature(fn).parameters
    if any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return kwargs
    return {k: v for k, v in kwargs.items() if k in params}


class Runner:
    def __init__(self, backend, loaded, writer, log):
        self.backend = backend
        self.loaded = loaded
        self.writer = writer
        self.log = log
        # diffusers before PR #13730 spends the last of num_inference_steps on a no-op pass at
        # timestep 0, so 8 real steps need num_inference_steps=9 there. Learned from the warm-up
        # run's timesteps when there is one, else from the installed code.
        self.legacy_steps = backend.static_legacy_steps(loaded)
        self.batch_ok = None  # unknown until a batched call succeeds or asserts (old diffusers)

    def describe(self):
        info = dict(self.loaded.info)
        info["steps_semantics"] = "legacy" if self.legacy_steps else "fixed"
        return info

    def warmup(self, compile_size=False):
        """A tiny run right after loading: kernels get initialised and we see the real timesteps."""
        size = 1024 if compile_size else 256
        seen = []
        job = {"kind": "generate", "prompt": "warm-up", "width": size, "height": size, "seeds": [0], "steps": 2,
               "guidance_scale": 0.0}
        self._generate(job, None, None, None, seen_timesteps=seen)
        if seen:
            legacy = seen[-1] <= 1e-6
            if legacy != bool(self.legacy_steps):
                self.log.info("warm-up timesteps %s: terminal step %s", seen, "present" if legacy else "absent")
            self.legacy_steps = legacy

    def after_job(self, failed):
        if failed:
            # gc + empty_cache after an OOM or a cancel, so the next job starts from a clean allocator.
            self.backend.release(self.loaded)

    def run(self, header, payload, cancel):
        job = header["job"]
        image = mask = None
        if job.get("kind") == "edit":
            spec = header.get("image")
            if not spec:
                raise JobError("invalid_request", "edit job without an input image")
            image = self.backend.image_from_raw(spec["width"], spec["height"], spec["channels"],
                                                payload[: spec["length"]])
            mspec = header.get("mask")
            if mspec:
                start = spec["length"]
                mask = self.backend.image_from_raw(mspec["width"], mspec["height"], mspec["channels"],
                                                   payload[start: start + mspec["length"]])
        self._generate(job, image, mask, cancel, job_id=header["id"])

    def _select(self, job, image, mask):
        if job.get("kind") != "edit":
            return self.loaded.pipeline("generate"), {}
        edit_model = self.loaded.pipeline("edit_model")
        if mask is not None:
            pipe = edit_model or self.loaded.pipeline("inpaint")
            if pipe is None:
                raise JobError("unsupported", "masked edits need diffusers with ZImageInpaintPipeline (0.37 or newer); "
                                              "run `npm run setup:gpu` to upgrade, or send the edit without a mask")
            return pipe, {"image": image, "mask_image": mask, "strength": job.get("strength", 1.0)}
        pipe = edit_model or self.loaded.pipeline("img2img")
        if pipe is None:
            raise JobError("unsupported", "edits need diffusers with ZImageImg2ImgPipeline (0.36 or newer)")
        return pipe, {"image": image, "strength": job.get("strength", 0.6)}

    def _generate(self, job, image, mask, cancel, job_id=None, seen_timesteps=None):
        pipe, extra = self._select(job, image, mask)
        # The schedule quirk is the Z-Image pipelines'; a separate edit model keeps its own step count.
        legacy = bool(self.legacy_steps) and pipe is not self.loaded.pipeline("edit_model")
        seeds = list(job["seeds"])
        steps = int(job["steps"])
        guidance = float(job.get("guidance_scale", 0.0))
        base = {
            "prompt": job["prompt"],
            "height": int(job["height"]),
            "width": int(job["width"]),
            "num_inference_steps": steps + (1 if legacy else 0),
            "guidance_scale": guidance,
            "output_type": "pil",
        }
        if job.get("negative_prompt"):
            base["negative_prompt"] = job["negative_prompt"]
        if guidance > 1 and job.get("cfg_normalization"):
            base["cfg_normalization"] = True
        base.update(extra)
        self.backend.prepare(self.loaded, pipe, base["width"], base["height"])

        batch = len(seeds) > 1 and self.batch_ok is not False and \
            "num_images_per_prompt" in inspect.signature(pipe.__call__).parameters
        progress = {"run": 0, "runs": 1 if batch else len(seeds), "per": steps, "sent": 0}

        def on_step(p, i, t, callback_kwargs):
            value = float(t)
            if seen_timesteps is not None:
                seen_timesteps.append(value)
            timesteps = getattr(p, "_num_timesteps", None)
            if timesteps:
                progress["per"] = max(1, timesteps - (1 if legacy else 0))
            per = progress["per"]
            step = progress["run"] * per + min(i + 1, per)
            if job_id is not None and step > progress["sent"]:
                progress["sent"] = step
                self.writer.send({"type": "progress", "id": job_id, "step": step, "total": progress["runs"] * per})
            if cancel is not None and cancel.is_set():
                # The pipeline checks this flag before each step and skips the rest.
                p._interrupt = True
            return {}

        def call(group):
            generators = [self.backend.make_generator(self.loaded, s) for s in group]
            kwargs = dict(base, callback_on_step_end=on_step)
            if len(group) > 1:
                kwargs["num_images_per_prompt"] = len(group)
                kwargs["generator"] = generators
            else:
                kwargs["generator"] = generators[0]
            return list(pipe(**accepted_kwargs(pipe.__call__, kwargs)).images)

        def emit(pairs, first_index):
            for offset, (seed, img) in enumerate(pairs):
                width, height, data = self.backend.image_to_rgb(img)
                self.writer.send({"type": "image", "id": job_id, "index": first_index + offset, "seed": seed,
                                  "width": width, "height": height, "channels": 3}, data)

        def checked(group, images):
            if cancel is not None and cancel.is_set():
                raise Canceled()
            if len(images) != len(group):
                raise JobError("engine_error", "pipeline returned %d images for %d seeds" % (len(images), len(group)))
            return list(zip(group, images))

        if batch:
            try:
                images = call(seeds)
            except AssertionError:
                # diffusers 0.36 asserts num_images_per_prompt == 1 in encode_prompt, before any step.
                if progress["sent"]:
                    raise
                self.log.info("this diffusers version cannot batch images; generating them one at a time")
                self.batch_ok = False
                return self._generate(job, image, mask, cancel, job_id, seen_timesteps)
            self.batch_ok = True
            pairs = checked(seeds, images)
            if job_id is not None:
                emit(pairs, 0)
            return
        for index, seed in enumerate(seeds):
            if cancel is not None and cancel.is_set():
                raise Canceled()
            progress["run"] = index
            pairs = checked([seed], call([seed]))
            if job_id is not None:
                # Sent as soon as made: a 4-image loop holds one image at a time, not four.
                emit(pairs, index)
