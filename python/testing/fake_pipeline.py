"""A stand-in for zimage_backend.py that needs only the Python standard library.

Selected with ZIMAGE_PIPELINE_MODULE=python/testing/fake_pipeline.py. It goes through
the same worker and runner code as the real model: the diffusers call signature,
callback_on_step_end every step, the `_interrupt` flag (checked before each step; the
loop then still "decodes"), `_num_timesteps`, per-image generators and
num_images_per_prompt. Like diffusers, it decodes after the loop unless an exception
escaped it, and logs "decoded N image(s) for PROMPT after K transformer pass(es)" so
tests can see wasted passes and decodes. Pixels are a deterministic function of the
seed and the parameters (passes at timestep 0 change nothing, as in diffusers), so
"same seed, same image" can be tested.

Magic words in the prompt drive failure tests (each fires on the second step):
  __crash__  the process exits at once (os._exit), as a segfault or a kill would
  __orphan__ the same, leaving a child process behind (logs "started helper pid N")
  __hang__   the step never finishes
  __oom__    raises an OutOfMemoryError("CUDA out of memory ...") like torch's
  __batchoom__ the same, only when num_images_per_prompt > 1
  __valueerror__ a ValueError from "inside the library" (not an input check)
  __fatal__  raises RuntimeError("CUDA error: an illegal memory access ...")
  __print__  prints to stdout and writes to fd 1 (must land on stderr, not the protocol)
  __slow__   each step takes 0.1 s (something to cancel in end-to-end tests)
  __badpreview__ making a live preview raises (the job must still succeed, without previews)
Live previews: the step callback gets {"latents": FakeLatents} (a 16-channel grid of height/8 x
width/8, like Z-Image's); latent_previewer() turns it into a small solid-colour RGB picture whose
colour follows the seed and step, ready one poll after it was asked for (like a non-blocking copy).
Environment knobs: FAKE_STEP_SECONDS (default 0.01), FAKE_LEGACY_STEPS=1 (emulate diffusers
before PR #13730: a redundant terminal timestep 0), FAKE_NO_INPAINT=1, FAKE_LOAD_SECONDS,
FAKE_LOAD_FAIL=message, FAKE_NO_VARLEN=1, FAKE_EDIT_MODEL=legacy|limited (a separate edit model: a Z-Image-like
pipeline on the legacy schedule, or one whose call lacks mask_image, callback_on_step_end and
generator), FAKE_PROBE_MISSING=torch,diffusers,transformers,accelerate,cuda (probe reports them missing).
"""
import logging
import os
import random
import sys
import time


class OutOfMemoryError(RuntimeError):
    """Named like torch.cuda.OutOfMemoryError: the worker must recognise it by name and message."""


class FakeGenerator:
    def __init__(self, seed):
        self.seed = seed


class FakeImage:
    def __init__(self, width, height, channels, data):
        self.width, self.height, self.channels, self.data = width, height, channels, data

    def rgb(self):
        if self.channels == 3:
            return self.data
        if self.channels == 1:
            return bytes(b for b in self.data for _ in range(3))
        return bytes(b for i, b in enumerate(self.data) if i % 4 != 3)


class FakeLatents:
    """What Z-Image's callback gets as latents: (batch, 16, height/8, width/8); here just the numbers."""

    ndim = 4

    def __init__(self, batch, width, height, seed, index, broken=False):
        self.shape = (batch, 16, height // 8, width // 8)
        self.seed, self.index, self.broken = seed, index, broken


class Output:
    def __init__(self, images):
        self.images = images


log = logging.getLogger("zimage.fake")


def _timesteps(n, strength, legacy):
    if legacy:  # old diffusers: linspace down to sigma 0, whose step does nothing
        ts = [1000.0 * (1 - i / (n - 1)) if n > 1 else 1000.0 for i in range(n)]
    else:
        ts = [1000.0 * (1 - i / n) for i in range(n)]
    if strength is not None:
        init = min(n * strength, n)
        ts = ts[int(max(n - init, 0)):]
    return ts


class FakeZImagePipeline:
    def __init__(self, mode, legacy=None):
        self.mode = mode
        self.legacy = os.environ.get("FAKE_LEGACY_STEPS") == "1" if legacy is None else legacy
        self._interrupt = False
        self._num_timesteps = 0

    @property
    def interrupt(self):
        return self._interrupt

    def __call__(self, prompt=None, image=None, mask_image=None, strength=None, height=None, width=None,
                 num_inference_steps=50, sigmas=None, guidance_scale=5.0, cfg_normalization=False,
                 negative_prompt=None, num_images_per_prompt=1, generator=None, output_type="pil",
                 callback_on_step_end=None, callback_on_step_end_tensor_inputs=("latents",), max_sequence_length=512):
        height, width = height or 1024, width or 1024
        if height % 16 or width % 16:
            raise ValueError("Height must be divisible by 16 (got %d)" % height)
        if strength is not None and not 0 <= strength <= 1:
            raise ValueError("The value of strength should be in [0.0, 1.0] but is %s" % strength)
        self._interrupt = False
        if self.mode != "generate" and strength is None:
            strength = 0.6
        ts = _timesteps(num_inference_steps, strength if self.mode != "generate" else None, self.legacy)
        if not ts:
            raise ValueError("After adjusting the num_inference_steps by strength parameter: %s, the number of "
                             "pipeline steps is 0 which is < 1 and not appropriate for this pipeline." % strength)
        self._num_timesteps = len(ts)
        step_seconds = 0.1 if "__slow__" in prompt else float(os.environ.get("FAKE_STEP_SECONDS", "0.01"))
        effective = passes = 0
        for i, t in enumerate(ts):
            if self.interrupt:
                continue
            if i == 0 and "__print__" in prompt:
                print("fake pipeline: a library print to stdout")
                os.write(1, b"fake pipeline: a raw write to fd 1\n")
            if i == 1:
                self._maybe_fail(prompt, num_images_per_prompt)
            time.sleep(step_seconds)
            passes += 1
            if t > 0:  # a step at sigma 0 has dt = 0: it cannot change the latents
                effective += 1
            if callback_on_step_end is not None:
                first = generator[0] if isinstance(generator, list) else generator
                latents = FakeLatents(num_images_per_prompt, width, height, getattr(first, "seed", 0), i,
                                      broken="__badpreview__" in prompt)
                callback_on_step_end(self, i, t, {"latents": latents})
        gens = generator if isinstance(generator, list) else [generator] * num_images_per_prompt
        key = "|".join(str(x) for x in (prompt, negative_prompt, guidance_scale, cfg_normalization, width, height,
                                        effective, strength))
        images = [self._pixels(g.seed, key, width, height, image, mask_image) for g in gens]
        log.info("decoded %d image(s) for %r after %d transformer pass(es)", len(images), prompt, passes)
        return Output(images)

    def _maybe_fail(self, prompt, batch):
        if "__orphan__" in prompt:  # a helper process left behind by a crash (compile workers do this)
            import subprocess

            helper = subprocess.Popen(["sleep", "60"])
            log.info("fake pipeline: started helper pid %d", helper.pid)
            logging.shutdown()
            os._exit(9)
        if "__crash__" in prompt:
            os._exit(9)
        if "__hang__" in prompt:
            while True:
                time.sleep(3600)
        if "__oom__" in prompt or ("__batchoom__" in prompt and batch > 1):
            raise OutOfMemoryError("CUDA out of memory. Tried to allocate 24.00 GiB. GPU 0 has a total capacity "
                                   "of 79.19 GiB of which 1.20 GiB is free.")
        if "__fatal__" in prompt:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        if "__valueerror__" in prompt:
            raise ValueError("not enough values to unpack (expected 4, got 3)")

    def _pixels(self, seed, key, width, height, image, mask):
        size = width * height * 3
        noise = random.Random("%d|%s" % (seed, key)).randbytes(size)
        if image is None:
            return FakeImage(width, height, 3, noise)
        base = (image.rgb() * (size // max(1, image.width * image.height * 3) + 1))[:size]
        if mask is not None:
            m = mask.rgb()
            out = bytes(noise[i] if m[i % len(m)] > 127 else base[i] for i in range(size))
        else:
            out = bytes((base[i] + noise[i]) // 2 for i in range(size))
        return FakeImage(width, height, 3, out)


class FakeLimitedEditPipeline:
    """A ZIMAGE_EDIT_MODEL of another family: no mask_image, callback_on_step_end or generator."""

    legacy = False

    def __call__(self, prompt=None, image=None, strength=0.8, height=None, width=None, num_inference_steps=50,
                 guidance_scale=7.5, negative_prompt=None, output_type="pil"):
        raise AssertionError("the runner must refuse this pipeline before calling it")


class Loaded:
    def __init__(self, cfg):
        edit = os.environ.get("FAKE_EDIT_MODEL", "")
        self.info = {"model": cfg.model, "device": cfg.device, "pipeline": "fake", "offload": "none",
                     "attention": cfg.attention, "compile": cfg.compile, "diffusers": "fake",
                     "edit_model": edit or None,
                     # FAKE_NO_VARLEN=1: a diffusers without varlen flash backends (guided jobs refused).
                     "attention_masks": not (os.environ.get("FAKE_NO_VARLEN") == "1" and cfg.attention != "sdpa"),
                     "has_img2img": True, "has_inpaint": os.environ.get("FAKE_NO_INPAINT") != "1"}
        edit_pipe = {"legacy": FakeZImagePipeline("img2img", legacy=True), "limited": FakeLimitedEditPipeline(),
                     "": None}[edit]
        self._pipes = {"generate": FakeZImagePipeline("generate"), "img2img": FakeZImagePipeline("img2img"),
                       "inpaint": FakeZImagePipeline("inpaint") if self.info["has_inpaint"] else None,
                       "edit_model": edit_pipe}

    def pipeline(self, kind):
        return self._pipes.get(kind)


def load(cfg, log):
    delay = float(os.environ.get("FAKE_LOAD_SECONDS", "0"))
    if delay:
        time.sleep(delay)
    if os.environ.get("FAKE_LOAD_FAIL"):
        raise RuntimeError(os.environ["FAKE_LOAD_FAIL"])
    log.info("fake pipeline loaded (model %s)", cfg.model)
    return Loaded(cfg)


def static_legacy_steps(loaded, pipe=None):
    return (pipe or loaded.pipeline("generate")).legacy


def prepare(loaded, pipe, width, height):
    pass


def make_generator(loaded, seed):
    return FakeGenerator(seed)


def image_from_raw(width, height, channels, data):
    return FakeImage(width, height, channels, bytes(data))


def image_to_rgb(img):
    return img.width, img.height, img.data


class FakePreviewer:
    """The real previewer's interface (zimage_backend.LatentPreviewer): step() starts a preview, the next
    poll() returns it, so the runner's deferred sending is exercised."""

    def __init__(self, max_side):
        self.max_side = max_side
        self.pending = None
        self.started = 0

    def step(self, latents, want, keep, tag):
        if latents is None or not want or self.pending is not None:
            return
        if latents.broken:
            raise RuntimeError("fake preview failure")
        _, _, h, w = latents.shape
        scale = max(1.0, max(h, w) / self.max_side)
        width, height = max(1, int(w / scale)), max(1, int(h / scale))
        colour = bytes(((latents.seed * 37 + latents.index * 53 + c * 91) % 256) for c in range(3))
        self.started += 1
        self.pending = (tag, width, height, colour * (width * height))

    def poll(self):
        ready, self.pending = self.pending, None
        return ready


def latent_previewer(loaded, pipe, max_side):
    return FakePreviewer(max_side)


def release(loaded):
    pass


def probe(device):
    missing = [m for m in os.environ.get("FAKE_PROBE_MISSING", "").split(",") if m]
    return {
        "python": "%d.%d.%d" % sys.version_info[:3],
        "torch": None if "torch" in missing else "fake",
        "cuda_available": "cuda" not in missing,
        "device": device,
        "device_ok": "cuda" not in missing,
        "device_name": "fake device",
        "diffusers": None if "diffusers" in missing else "fake",
        "transformers": None if "transformers" in missing else "fake",
        "accelerate": None if "accelerate" in missing else "fake",
        "has_zimage": "diffusers" not in missing,
        "has_img2img": "diffusers" not in missing,
        "has_inpaint": "diffusers" not in missing,
        "pipeline_module": "fake",
    }
