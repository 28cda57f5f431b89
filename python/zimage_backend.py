"""The real backend: Z-Image through torch + diffusers (>= 0.36).

Loads ZImagePipeline once; img2img and inpaint pipelines are built from the same
component objects, so editing costs no second copy of the weights. torch is imported
inside the functions so the worker and probe can start (and report what is missing)
without it. bench/direct_pipeline.py uses the same helpers, so its baseline is set up
like the server's.
"""
import gc
import os
import sys

GIB = 2**30
# bf16 weights: transformer ~12.3 GB + Qwen3-4B text encoder ~8 GB + VAE; plus ~3 GB activations at 1024².
FULL_GPU_BYTES = 26 * GIB
MODEL_OFFLOAD_BYTES = 16 * GIB
TILING_PIXELS = 1536 * 1024  # "auto" VAE tiling above ~1.5 MP, where decode memory starts to dominate
# Z-Image's transformer builds an attention mask whenever the sequences in a batch differ in length
# (always with guidance: prompt and negative prompt; on 0.36-0.37 on every call). flash-attn's plain
# backends refuse masks (0.37+) or silently drop them (0.36); the varlen ones take them.
VARLEN_ATTENTION = {"flash": "flash_varlen", "_flash_3": "_flash_varlen_3"}


def dtype_kwargs(dtype):
    """`dtype=` where diffusers takes it (0.40 deprecates `torch_dtype` with a warning), else `torch_dtype=`.
    Feature-tested rather than version-compared: before 0.40 an unknown `dtype=` would be passed on
    to the components and the model could load in float32."""
    try:
        from diffusers.utils.deprecation_utils import _resolve_dtype  # noqa: F401 - came with `dtype=`
    except ImportError:
        return {"torch_dtype": dtype}
    return {"dtype": dtype}


def from_pretrained(cls, model, dtype, log):
    """Local directory, else the Hugging Face cache, else (unless HF_HUB_OFFLINE) a download."""
    kw = dtype_kwargs(dtype)
    if os.path.isdir(model):
        return cls.from_pretrained(model, **kw)
    try:
        return cls.from_pretrained(model, local_files_only=True, **kw)
    except (OSError, ValueError) as exc:
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
            raise RuntimeError("%s is not in the Hugging Face cache and HF_HUB_OFFLINE is set; fetch it once with "
                               "`hf download %s` (or point ZIMAGE_MODEL at a local copy)" % (model, model)) from exc
        log.info("%s is not fully cached (%s); downloading it (about 33 GB for Z-Image)", model, str(exc).splitlines()[0])
    return cls.from_pretrained(model, **kw)


def resolve_offload(cfg, log, copies=1):
    """ZIMAGE_OFFLOAD, with `auto` decided by the free memory of the device."""
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


def place(pipe, offload, device):
    if offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        pipe.to(device)


def attention_backend(name, available):
    """The dispatcher backend for ZIMAGE_ATTENTION, and whether it handles attention masks."""
    if name == "sdpa":
        return name, True
    varlen = VARLEN_ATTENTION.get(name)
    if varlen and varlen in available:
        return varlen, True
    return name, name not in VARLEN_ATTENTION


def available_attention_backends():
    try:
        from diffusers.models.attention_dispatch import AttentionBackendName
    except ImportError:
        return set()
    return {b.value for b in AttentionBackendName}


def compile_transformer(transformer):
    """Regional compilation where the model supports it: the repeated transformer block is compiled
    once and reused by all 30+ layers, so start-up is far shorter than compiling the whole model for
    about the same speed. fullgraph=True makes a graph break an error at the warm-up rather than a
    silent slowdown (diffusers tests Z-Image's blocks this way)."""
    if getattr(transformer, "_repeated_blocks", None) and hasattr(transformer, "compile_repeated_blocks"):
        transformer.compile_repeated_blocks(fullgraph=True)
        return "regional"
    transformer.compile()
    return "whole"


class Loaded:
    def __init__(self, cfg, pipe, edit_pipe, offload, diffusers_module, log, attention=None, masks=True):
        self.cfg, self.pipe, self.edit_pipe, self.offload, self.log = cfg, pipe, edit_pipe, offload, log
        self._diffusers = diffusers_module
        self._derived = {}
        self._hooked = pipe  # with offload, the accelerate hooks belong to one pipeline at a time
        self.info = {
            "model": cfg.model, "edit_model": cfg.edit_model or None, "device": cfg.device, "offload": offload,
            "attention": attention or cfg.attention, "attention_masks": masks, "compile": cfg.compile,
            "random_weights": cfg.random_weights, "diffusers": getattr(diffusers_module, "__version__", None),
            "pipeline": type(pipe).__name__, "has_img2img": hasattr(diffusers_module, "ZImageImg2ImgPipeline"),
            "has_inpaint": hasattr(diffusers_module, "ZImageInpaintPipeline"),
        }

    def _derive(self, class_name):
        """img2img / inpaint from the loaded component objects: shared modules, no second copy.
        Not from_pipe(): without torch_dtype it ends in `.to(dtype=torch.float32)`, which would turn the
        shared bf16 weights into float32 in place (twice the memory, and the text-to-image pipeline too).
        The constructor only registers the modules; their offload hooks are moved by prepare()."""
        if class_name not in self._derived:
            cls = getattr(self._diffusers, class_name, None)
            derived = None
            if cls is not None:
                derived = cls(**self.pipe.components)
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
    # bf16 is the precision the weights are published in; float32 would double the memory
    # (the 6B transformer alone would take ~24 GB) for no visible gain.
    dtype = torch.bfloat16
    # Decided before anything is built: random weights are created on the device and would skew the reading.
    offload = resolve_offload(cfg, log, 2 if cfg.edit_model else 1)
    if cfg.random_weights:
        from zimage_random import build_pipeline

        pipe = build_pipeline(diffusers, cfg.device, dtype, log)
    else:
        pipe = from_pretrained(diffusers.ZImagePipeline, cfg.model, dtype, log)
    edit_pipe = None
    if cfg.edit_model:
        edit_pipe = from_pretrained(diffusers.DiffusionPipeline, cfg.edit_model, dtype, log)
        log.info("edits use %s (%s)", cfg.edit_model, type(edit_pipe).__name__)
    attention, masks = attention_backend(cfg.attention, available_attention_backends())
    if attention != cfg.attention:
        log.info("ZIMAGE_ATTENTION=%s: using diffusers' %s backend, which takes the attention masks that "
                 "guidance needs", cfg.attention, attention)
    elif not masks:
        log.warning("ZIMAGE_ATTENTION=%s: this diffusers has no varlen variant; jobs with guidance are refused",
                    cfg.attention)
    for p in (pipe, edit_pipe):
        if p is None:
            continue
        p.set_progress_bar_config(disable=True)  # tqdm bars would flood the server log
        # A separate edit model may be UNet-based or otherwise have no `transformer`.
        transformer = getattr(p, "transformer", None)
        if attention != "sdpa" and transformer is not None:
            transformer.set_attention_backend(attention)
        place(p, offload, cfg.device)
        if cfg.compile and transformer is not None:
            if offload == "sequential":
                log.warning("ZIMAGE_COMPILE ignored: torch.compile does not work with sequential offload")
            else:
                log.info("ZIMAGE_COMPILE: %s compile of %s", compile_transformer(transformer), type(p).__name__)
    return Loaded(cfg, pipe, edit_pipe, offload, diffusers, log, attention, masks)


def static_legacy_steps(loaded, pipe=None):
    """Before diffusers PR #13730 (0.39) the Z-Image schedule ended on a redundant timestep 0 (9 steps =
    8 transformer passes). The fix added get_default_z_image_sigmas to every Z-Image pipeline module;
    for the main model the warm-up run then confirms by looking at the timesteps. Pipelines of other
    families (a separate ZIMAGE_EDIT_MODEL) keep their own schedule."""
    module_name = type(pipe if pipe is not None else loaded.pipe).__module__
    if "z_image" not in module_name:
        return False
    return not hasattr(sys.modules.get(module_name), "get_default_z_image_sigmas")


def prepare(loaded, pipe, width, height):
    if loaded.offload != "none" and pipe is not loaded._hooked and pipe is not loaded.edit_pipe:
        # Shared modules carry the offload hooks of one pipeline; move them to the one about to run.
        place(pipe, loaded.offload, loaded.cfg.device)
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
    """`data` may be a memoryview of the frame payload: Pillow reads any buffer, so no copy is made here."""
    from PIL import Image

    mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    image = Image.frombytes(mode, (width, height), data)
    return image if channels == 1 else image.convert("RGB")


def image_to_rgb(image):
    if hasattr(image, "convert"):
        rgb = image.convert("RGB")
        return rgb.width, rgb.height, rgb.tobytes()
    raise TypeError("pipeline returned %s, expected PIL images" % type(image).__name__)


# Z-Image uses the 16-channel Flux VAE. A preview is a fixed linear map of the pipeline's (scaled and
# shifted) latents to RGB in [-1, 1], one 16x3 matrix plus a bias, fitted against real decodes of that
# VAE and published by ComfyUI for its Flux previews (comfy/latent_formats.py, class Flux). It costs a
# few microseconds of GPU time, where the VAE would cost tens to hundreds of milliseconds per step.
FLUX_LATENT_RGB = (
    (-0.0346, 0.0244, 0.0681), (0.0034, 0.0210, 0.0687), (0.0275, -0.0668, -0.0433), (-0.0174, 0.0160, 0.0617),
    (0.0859, 0.0721, 0.0329), (0.0004, 0.0383, 0.0115), (0.0405, 0.0861, 0.0915), (-0.0236, -0.0185, -0.0259),
    (-0.0245, 0.0250, 0.1180), (0.1008, 0.0755, -0.0421), (-0.0515, 0.0201, 0.0011), (0.0428, -0.0012, -0.0036),
    (0.0817, 0.0765, 0.0749), (-0.1264, -0.0522, -0.1103), (-0.0280, -0.0881, -0.0499), (-0.1262, -0.0982, -0.0778),
)
FLUX_LATENT_RGB_BIAS = (-0.0329, -0.0718, -0.0851)


class LatentPreviewer:
    """Cheap previews of one pipeline call, from the latents its step callback sees.

    The picture is the denoised estimate rather than the noisy latents: on the flow-matching schedule
    x = (1 - sigma) x0 + sigma noise, the change between two steps is the velocity v, and x0 = x - sigma v.
    It is projected to RGB (FLUX_LATENT_RGB), area-scaled to at most max_side, and copied to pinned host
    memory without blocking: the GPU never waits for a preview, and the next step's callback sends the
    copy once its CUDA event says it is done. Only the first image of a batch is previewed.
    """

    def __init__(self, torch, pipe, max_side):
        self.torch = torch
        self.pipe = pipe
        self.max_side = max(16, int(max_side))
        self.prev = None  # (latents of the step before a preview, their sigma)
        self.pending = None  # (tag, CUDA event or None, host tensor HxWx3 uint8)
        self.weights = None

    def _sigma(self):
        """The sigma of the latents just produced (a device tensor: reading it as a float would sync)."""
        scheduler = getattr(self.pipe, "scheduler", None)
        sigmas = getattr(scheduler, "sigmas", None)
        index = getattr(scheduler, "step_index", None)
        if sigmas is None or index is None or not 0 <= index < len(sigmas):
            return None
        return sigmas[index]

    def step(self, latents, want, keep, tag):
        torch = self.torch
        if latents is None or getattr(latents, "ndim", 0) != 4 or latents.shape[1] != len(FLUX_LATENT_RGB):
            self.prev = None
            return  # not a Flux-VAE latent grid (another pipeline family): no previews
        with torch.no_grad():
            sigma = self._sigma()
            if want and self.pending is None:
                x = latents[:1].float()
                if self.prev is not None and sigma is not None and self.prev[1] is not None:
                    before, sigma_before = self.prev
                    # Sigmas fall step by step; the clamp only guards a repeated one (then x0 = x).
                    dsigma = torch.clamp((sigma - sigma_before).float(), max=-1e-4)
                    x = x - sigma.float() * (x - before) / dsigma
                if self.weights is None or self.weights[0].device != x.device:
                    self.weights = (torch.tensor(FLUX_LATENT_RGB, device=x.device, dtype=torch.float32),
                                    torch.tensor(FLUX_LATENT_RGB_BIAS, device=x.device, dtype=torch.float32))
                matrix, bias = self.weights
                rgb = torch.einsum("bchw,cr->brhw", x, matrix) + bias.view(1, 3, 1, 1)
                rgb = torch.nan_to_num((rgb + 1.0) / 2.0, nan=0.5).clamp(0.0, 1.0)
                height, width = rgb.shape[-2:]
                scale = max(height, width) / self.max_side
                if scale > 1:
                    size = (max(1, round(height / scale)), max(1, round(width / scale)))
                    rgb = torch.nn.functional.interpolate(rgb, size=size, mode="area")
                pixels = (rgb[0].permute(1, 2, 0) * 255.0).round().to(torch.uint8).contiguous()
                if pixels.is_cuda:
                    host = torch.empty(pixels.shape, dtype=torch.uint8, pin_memory=True)
                    host.copy_(pixels, non_blocking=True)
                    event = torch.cuda.Event()
                    event.record()
                    self.pending = (tag, event, host)
                else:
                    self.pending = (tag, None, pixels.cpu())
            self.prev = (latents[:1].detach().float().clone(), sigma) if keep else None

    def poll(self):
        """(tag, width, height, rgb bytes) of a finished preview, else None; never waits."""
        if self.pending is None:
            return None
        tag, event, host = self.pending
        if event is not None and not event.query():
            return None
        self.pending = None
        height, width = int(host.shape[0]), int(host.shape[1])
        return tag, width, height, host.numpy().tobytes()


def latent_previewer(loaded, pipe, max_side):
    import torch

    return LatentPreviewer(torch, pipe, max_side)


def release(loaded):
    """After a failed or canceled job: put the offload hooks back and hand cached memory back."""
    if loaded.offload != "none":
        # A run that raised skipped the pipeline's own maybe_free_model_hooks(); without it the
        # transformer would stay on the GPU while the text encoder is loaded for the next job.
        # First, so the modules it moves off the GPU are freed by the empty_cache below.
        for p in (loaded._hooked, loaded.edit_pipe):
            if p is not None:
                p.maybe_free_model_hooks()
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is None:
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if loaded.cfg.device.startswith("mps") and mps is not None and hasattr(mps, "empty_cache"):
        mps.empty_cache()


def probe(device):
    from probe import probe_real

    return probe_real(device)
