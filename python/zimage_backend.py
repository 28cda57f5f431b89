"""The real backend: Z-Image through torch + diffusers (>= 0.36).

Loads ZImagePipeline once; img2img and inpaint pipelines are built from the same
components (from_pipe), so editing costs no second copy of the weights. torch is
imported inside the functions so the worker and probe can start (and report what is
missing) without it.
"""
import gc
import os
import sys

GIB = 2**30
# bf16 weights: transformer ~12.3 GB + Qwen3-4B text encoder ~8 GB + VAE; plus ~3 GB activations at 1024².
FULL_GPU_BYTES = 26 * GIB
MODEL_OFFLOAD_BYTES = 16 * GIB
TILING_PIXELS = 1536 * 1024  # "auto" VAE tiling above ~1.5 MP, where decode memory starts to dominate


def _from_pretrained(cls, model, dtype, log):
    """Local directory, else the Hugging Face cache, else (unless HF_HUB_OFFLINE) a download."""
    if os.path.isdir(model):
        return cls.from_pretrained(model, torch_dtype=dtype)
    try:
        return cls.from_pretrained(model, torch_dtype=dtype, local_files_only=True)
    except (OSError, ValueError) as exc:
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
            raise RuntimeError("%s is not in the Hugging Face cache and HF_HUB_OFFLINE is set; fetch it once with "
                               "`hf download %s` (or point ZIMAGE_MODEL at a local copy)" % (model, model)) from exc
        log.info("%s is not fully cached (%s); downloading it (about 33 GB for Z-Image)", model, str(exc).splitlines()[0])
    return cls.from_pretrained(model, torch_dtype=dtype)


def _resolve_offload(cfg, log, copies):
    import torch

    if cfg.offload != "auto":
        return cfg.offload
    if not cfg.device.startswith("cuda"):
        return "none"
    free, total = torch.cuda.mem_get_info(torch.device(cfg.device))
    need_full = FULL_GPU_BYTES + (copies - 1) * (FULL_GPU_BYTES - 3 * GIB)
    choice = "none" if free >= need_full else "model" if free >= MODEL_OFFLOAD_BYTES else "sequential"
    log.info("ZIMAGE_OFFLOAD=auto: %.1f GiB free of %.1f GiB -> %s", free / GIB, total / GIB, choice)
    return choice


def _place(pipe, offload, device):
    if offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        pipe.to(device)


class Loaded:
    def __init__(self, cfg, pipe, edit_pipe, offload, diffusers_module, log):
        self.cfg, self.pipe, self.edit_pipe, self.offload, self.log = cfg, pipe, edit_pipe, offload, log
        self._diffusers = diffusers_module
        self._derived = {}
        self._hooked = pipe  # with offload, the accelerate hooks belong to one pipeline at a time
        self.info = {
            "model": cfg.model, "edit_model": cfg.edit_model or None, "device": cfg.device, "offload": offload,
            "attention": cfg.attention, "compile": cfg.compile, "random_weights": cfg.random_weights,
            "diffusers": getattr(diffusers_module, "__version__", None), "pipeline": type(pipe).__name__,
            "has_img2img": hasattr(diffusers_module, "ZImageImg2ImgPipeline"),
            "has_inpaint": hasattr(diffusers_module, "ZImageInpaintPipeline"),
        }

    def _derive(self, class_name):
        """img2img / inpaint from the loaded components: shared modules, no second copy."""
        if class_name not in self._derived:
            cls = getattr(self._diffusers, class_name, None)
            if cls is None:
                self._derived[class_name] = None
            else:
                derived = cls.from_pipe(self.pipe) if hasattr(cls, "from_pipe") else cls(**self.pipe.components)
                derived.set_progress_bar_config(disable=True)
                self._derived[class_name] = derived
        return self._derived[class_name]

    def pipeline(self, kind):
        if kind == "generate":
            return self.pipe
        if kind == "edit_model":
            return self.edit_pipe
        return self._derive("ZImageImg2ImgPipeline" if kind == "img2img" else "ZImageInpaintPipeline")


def load(cfg, log):
    import torch
    import diffusers

    if not hasattr(diffusers, "ZImagePipeline"):
        raise RuntimeError("diffusers %s has no ZImagePipeline; install diffusers >= 0.36 (npm run setup:gpu)"
                           % diffusers.__version__)
    dtype = torch.bfloat16  # the Z-Image pipelines assert bf16
    # Decided before anything is built: random weights are created on the device and would skew the reading.
    offload = _resolve_offload(cfg, log, 2 if cfg.edit_model else 1)
    if cfg.random_weights:
        from zimage_random import build_pipeline

        pipe = build_pipeline(diffusers, cfg.device, dtype, log)
    else:
        pipe = _from_pretrained(diffusers.ZImagePipeline, cfg.model, dtype, log)
    edit_pipe = None
    if cfg.edit_model:
        edit_pipe = _from_pretrained(diffusers.DiffusionPipeline, cfg.edit_model, dtype, log)
        log.info("edits use %s (%s)", cfg.edit_model, type(edit_pipe).__name__)
    for p in (pipe, edit_pipe):
        if p is None:
            continue
        p.set_progress_bar_config(disable=True)  # tqdm bars would flood the server log
        if cfg.attention != "sdpa":
            p.transformer.set_attention_backend(cfg.attention)
        _place(p, offload, cfg.device)
        if cfg.compile:
            if offload == "sequential":
                log.warning("ZIMAGE_COMPILE ignored: torch.compile does not work with sequential offload")
            else:
                p.transformer.compile()
    return Loaded(cfg, pipe, edit_pipe, offload, diffusers, log)


def static_legacy_steps(loaded):
    """Before diffusers PR #13730 the schedule ended on a redundant timestep 0 (9 steps = 8 passes).
    The fix added get_default_z_image_sigmas; the warm-up run then confirms by looking at timesteps."""
    module = sys.modules.get(type(loaded.pipe).__module__)
    return not hasattr(module, "get_default_z_image_sigmas")


def prepare(loaded, pipe, width, height):
    if loaded.offload != "none" and pipe is not loaded._hooked and pipe is not loaded.edit_pipe:
        # Shared modules carry the offload hooks of one pipeline; move them to the one about to run.
        _place(pipe, loaded.offload, loaded.cfg.device)
        loaded._hooked = pipe
    mode = loaded.cfg.vae_tiling
    tiled = mode == "on" or (mode == "auto" and (width * height > TILING_PIXELS or loaded.offload == "sequential"))
    vae = pipe.vae
    if tiled != getattr(vae, "use_tiling", False):
        vae.enable_tiling() if tiled else vae.disable_tiling()


def make_generator(loaded, seed):
    import torch

    # MPS generators are not supported everywhere; CPU noise moved to the device is equally deterministic.
    device = "cpu" if loaded.cfg.device.startswith("mps") else loaded.cfg.device
    return torch.Generator(device=device).manual_seed(int(seed))


def image_from_raw(width, height, channels, data):
    from PIL import Image

    mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    image = Image.frombytes(mode, (width, height), bytes(data))
    return image if channels == 1 else image.convert("RGB")


def image_to_rgb(image):
    if hasattr(image, "convert"):
        rgb = image.convert("RGB")
        return rgb.width, rgb.height, rgb.tobytes()
    raise TypeError("pipeline returned %s, expected PIL images" % type(image).__name__)


def release(loaded):
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
    if loaded.offload != "none":
        # A failed run skips the pipeline's own maybe_free_model_hooks(); without it the transformer
        # would stay on the GPU while the text encoder is loaded for the next job.
        for p in (loaded._hooked, loaded.edit_pipe):
            if p is not None:
                p.maybe_free_model_hooks()


def probe(device):
    from probe import probe_real

    return probe_real(device)
