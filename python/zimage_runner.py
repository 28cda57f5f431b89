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
# The diffusers checks that reject what the request asked for. Any other ValueError/TypeError comes
# from inside the library (a shape mismatch, a version quirk): the request is not at fault.
INPUT_ERRORS = ("must be divisible by", "The value of strength should be in",
                "After adjusting the num_inference_steps by strength parameter")
# Arguments a pipeline may lack without changing what the request gets.
OPTIONAL_KWARGS = ("cfg_normalization", "output_type", "num_images_per_prompt")


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
    if isinstance(exc, ValueError) and any(marker in text for marker in INPUT_ERRORS):
        return "invalid_request", first, False
    return "engine_error", "%s: %s" % (type(exc).__name__, first), False


def _params(fn):
    params = inspect.signature(fn).parameters
    if any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None  # takes anything
    return params


def accepted_kwargs(fn, kwargs):
    """Drops the optional arguments this pipeline does not take; anything else missing is refused."""
    params = _params(fn)
    if params is None:
        return kwargs
    missing = [k for k in kwargs if k not in params and k not in OPTIONAL_KWARGS]
    if missing:
        # Dropping them would silently ignore the mask, the seeds, the size or the cancel (typically a
        # ZIMAGE_EDIT_MODEL of another pipeline family).
        owner = type(getattr(fn, "__self__", None)).__name__
        raise JobError("unsupported", "%s does not take %s, which this request needs; ZIMAGE_EDIT_MODEL must be a "
                                      "model whose pipeline does" % (owner, ", ".join(sorted(missing))))
    return {k: v for k, v in kwargs.items() if k in params}


class Runner:
    def __init__(self, backend, loaded, writer, log):
        self.backend = backend
        self.loaded = loaded
        self.writer = writer
        self.log = log
        # diffusers before PR #13730 spends the last of num_inference_steps on a no-op pass at
        # timestep 0, so 8 real steps need num_inference_steps=9 there. Learned from the warm-up
        # run's timesteps when there is one, else from the installed code. A separate edit model
        # is judged by its own pipeline module.
        self.legacy_steps = backend.static_legacy_steps(loaded)
        edit = loaded.pipeline("edit_model")
        self.edit_legacy = bool(edit is not None and backend.static_legacy_steps(loaded, edit))
        # Total pixels (width × height × images) of the smallest batch that ran out of memory:
        # batches that large go one image at a time at once instead of failing first.
        self.batch_oom_pixels = float("inf")

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
            # Offload hooks back in place, gc + empty_cache after an OOM, an error or a cancel.
            self.backend.release(self.loaded)

    def run(self, header, payload, cancel):
        job = header["job"]
        image = mask = None
        if job.get("kind") == "edit":
            spec = header.get("image")
            if not spec:
                raise JobError("invalid_request", "edit job without an input image")
            view = memoryview(payload)  # slices of a memoryview share the payload, no copies
            image = self.backend.image_from_raw(spec["width"], spec["height"], spec["channels"],
                                                view[: spec["length"]])
            mspec = header.get("mask")
            if mspec:
                start = spec["length"]
                mask = self.backend.image_from_raw(mspec["width"], mspec["height"], mspec["channels"],
                                                   view[start: start + mspec["length"]])
        self._generate(job, image, mask, cancel, job_id=header["id"])

    def _previewer(self, pipe, max_side):
        make = getattr(self.backend, "latent_previewer", None)
        if make is None:
            return None
        try:
            return make(self.loaded, pipe, max_side)
        except Exception as exc:  # noqa: BLE001 - previews must never fail a job
            self._preview_failed(exc)
            return None

    def _preview_step(self, previews, callback_kwargs, step, run_end, total, job_id):
        """Sends a preview made earlier if it is ready, and starts this step's if one is due. No preview
        of a run's last step: its image is decoded right after. Any failure turns previews off for the run."""
        pv, every = previews["pv"], previews["every"]
        try:
            ready = pv.poll()
            if ready is not None:
                tag, width, height, data = ready
                self.writer.send({"type": "preview", "id": job_id, "step": tag[0], "total": tag[1], "width": width,
                                  "height": height, "channels": 3}, data)
            want = step % every == 0 and step < run_end
            keep = (step + 1) % every == 0 and step + 1 < run_end
            if want or keep:
                pv.step(callback_kwargs.get("latents") if isinstance(callback_kwargs, dict) else None,
                        want, keep, (step, total))
        except Exception as exc:  # noqa: BLE001 - previews must never fail a job
            previews["pv"] = None
            self._preview_failed(exc)

    def _preview_failed(self, exc):
        if not getattr(self, "_preview_warned", False):
            self._preview_warned = True
            self.log.warning("live preview failed, so this run sends none (the image is unaffected; later failures are "
                             "not logged): %s: %s", type(exc).__name__, exc)

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
        edit_model = pipe is self.loaded.pipeline("edit_model")
        legacy = self.edit_legacy if edit_model else bool(self.legacy_steps)
        # On the legacy schedule the last timestep is sigma 0: its Euler step is scaled by dt = 0, so
        # its transformer pass cannot change the image. The warm-up keeps it, to see the schedule.
        trim = legacy and seen_timesteps is None
        seeds = list(job["seeds"])
        steps = int(job["steps"])
        guidance = float(job.get("guidance_scale", 0.0))
        if guidance > 0 and self.loaded.info.get("attention_masks") is False:
            raise JobError("unsupported", "ZIMAGE_ATTENTION=%s cannot run guided jobs (guidance_scale > 0): this "
                                          "diffusers has no varlen flash backend for the attention masks they need; "
                                          "use ZIMAGE_ATTENTION=sdpa" % self.loaded.info.get("attention"))
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
        if guidance > 0 and job.get("cfg_normalization"):
            # Guidance runs above 0 from diffusers 0.37 (above 1 on 0.36). True = factor 1.0: the guided
            # prediction's norm is capped at the conditional prediction's.
            base["cfg_normalization"] = True
        base.update(extra)
        self.backend.prepare(self.loaded, pipe, base["width"], base["height"])

        pixels = base["width"] * base["height"] * len(seeds)
        batch = len(seeds) > 1 and pixels < self.batch_oom_pixels and \
            "num_images_per_prompt" in inspect.signature(pipe.__call__).parameters
        progress = {"run": 0, "runs": 1 if batch else len(seeds), "per": steps, "sent": 0}
        # Live previews every `preview_every` steps (0: none): made by the backend from the step's
        # latents (cheaply, never by the VAE), sent when ready, dropped when the image itself is due.
        preview_every = int(job.get("preview_every") or 0) if job_id is not None else 0
        previews = {"every": preview_every, "max_side": int(job.get("preview_max_side") or 256), "pv": None}

        def on_step(p, i, t, callback_kwargs):
            if cancel is not None and cancel.is_set():
                # Raised rather than p._interrupt: an interrupted pipeline still runs the VAE decode
                # (seconds at large sizes) before it returns. after_job() puts offload hooks back.
                raise Canceled()
            if seen_timesteps is not None:
                seen_timesteps.append(float(t))
            timesteps = getattr(p, "_num_timesteps", None)
            if timesteps:
                progress["per"] = max(1, timesteps - (1 if legacy else 0))
            per = progress["per"]
            step = progress["run"] * per + min(i + 1, per)
            if job_id is not None and step > progress["sent"]:
                progress["sent"] = step
                self.writer.send({"type": "progress", "id": job_id, "step": step, "total": progress["runs"] * per})
            if previews["pv"] is not None:
                self._preview_step(previews, callback_kwargs, step, (progress["run"] + 1) * per,
                                   progress["runs"] * per, job_id)
            if trim and timesteps and i == timesteps - 2:
                # The pipeline checks this flag before each step, skips the rest and still decodes.
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
            if previews["every"] > 0:
                previews["pv"] = self._previewer(pipe, previews["max_side"])
            try:
                return list(pipe(**accepted_kwargs(pipe.__call__, kwargs)).images)
            finally:
                # A preview still in flight is stale now: the image itself comes next.
                previews["pv"] = None

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
                pairs = checked(seeds, call(seeds))
            except Exception as exc:  # noqa: BLE001 - only out-of-memory is retried
                if not is_oom(exc):
                    raise
                self.batch_oom_pixels = min(self.batch_oom_pixels, pixels)
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            else:
                if job_id is not None:
                    emit(pairs, 0)
                return
            # Outside the except block: the traceback and the tensors its frames hold are gone by now.
            self.log.warning("out of memory generating %d images at once (%s); freeing memory and generating "
                             "them one at a time", len(seeds), reason)
            self.backend.release(self.loaded)
            self.backend.prepare(self.loaded, pipe, base["width"], base["height"])
            progress["runs"] = len(seeds)
        for index, seed in enumerate(seeds):
            if cancel is not None and cancel.is_set():
                raise Canceled()
            progress["run"] = index
            pairs = checked([seed], call([seed]))
            if job_id is not None:
                # Sent as soon as made: a 4-image loop holds one image at a time, not four.
                emit(pairs, index)
