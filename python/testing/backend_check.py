"""Checks of python/zimage_backend.py against stand-ins for torch and diffusers (stdlib only).

The fake pipeline replaces the whole backend, so these paths of the real one are exercised
here instead: edit pipelines built without any dtype conversion, the attention backend
mapping, regional compilation, `dtype=` vs `torch_dtype=`, the legacy-schedule check, and
release(). Run by test/engines/diffusers.test.ts; prints "ok N" and exits 0 when all pass.
"""
import enum
import logging
import os
import sys
import types

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
CALLS = []


def module(name, **attrs):
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    sys.modules[name] = mod
    return mod


class Module:
    """A torch module stand-in that records any conversion or move."""

    def __init__(self, name):
        self.name = name

    def to(self, *args, **kwargs):
        CALLS.append(("to", self.name, args, kwargs))
        return self


class Transformer(Module):
    _repeated_blocks = ["ZImageTransformerBlock"]

    def set_attention_backend(self, name):
        CALLS.append(("attention", name))

    def compile_repeated_blocks(self, **kwargs):
        CALLS.append(("compile_repeated_blocks", kwargs))

    def compile(self, **kwargs):
        CALLS.append(("compile", kwargs))


class Pipe:
    def __init__(self, **components):
        self.__dict__.update(components)
        self.components = components
        CALLS.append(("init", type(self).__name__, sorted(components)))

    @classmethod
    def from_pipe(cls, pipe, **kwargs):
        # diffusers' from_pipe ends in `.to(dtype=torch_dtype or float32)` over the shared modules.
        raise AssertionError("from_pipe converts the shared weights to float32; build edit pipelines from components")

    @classmethod
    def from_pretrained(cls, model, **kwargs):
        CALLS.append(("from_pretrained", cls.__name__, sorted(kwargs)))
        return cls(scheduler=object(), vae=Module("vae"), text_encoder=Module("te"), tokenizer=object(),
                   transformer=Transformer("transformer"))

    def set_progress_bar_config(self, **kwargs):
        pass

    def to(self, device):
        CALLS.append(("place", type(self).__name__, device))

    def enable_model_cpu_offload(self, device=None):
        CALLS.append(("offload", type(self).__name__, device))

    def maybe_free_model_hooks(self):
        CALLS.append(("free_hooks", type(self).__name__))


class ZImagePipeline(Pipe):
    pass


class ZImageImg2ImgPipeline(Pipe):
    pass


class UNetEditPipeline(Pipe):
    """A separate edit model of another family: no `transformer`."""

    @classmethod
    def from_pretrained(cls, model, **kwargs):
        return cls(unet=Module("unet"), vae=Module("vae"))


class DiffusionPipeline(Pipe):
    from_pretrained = UNetEditPipeline.from_pretrained


Backends = enum.Enum("AttentionBackendName", {"FLASH": "flash", "FLASH_VARLEN": "flash_varlen", "NATIVE": "native"})
ZImagePipeline.__module__ = "diffusers.pipelines.z_image.pipeline_z_image"
ZImageImg2ImgPipeline.__module__ = "diffusers.pipelines.z_image.pipeline_z_image_img2img"
module("diffusers.pipelines.z_image.pipeline_z_image")  # no get_default_z_image_sigmas: legacy
module("diffusers.pipelines.z_image.pipeline_z_image_img2img", get_default_z_image_sigmas=lambda n: [])
diffusers = module("diffusers", __version__="0.39.0", ZImagePipeline=ZImagePipeline,
                   ZImageImg2ImgPipeline=ZImageImg2ImgPipeline, DiffusionPipeline=DiffusionPipeline)
module("diffusers.models")
module("diffusers.models.attention_dispatch", AttentionBackendName=Backends)
module("diffusers.utils")
deprecation = module("diffusers.utils.deprecation_utils")
mps = types.SimpleNamespace(empty_cache=lambda: CALLS.append(("mps_empty_cache",)))
module("torch", bfloat16="bf16", mps=mps, cuda=types.SimpleNamespace(is_available=lambda: False))

import zimage_backend as backend  # noqa: E402

checks = 0


def check(cond, what):
    global checks
    if not cond:
        raise AssertionError("%s; calls: %r" % (what, CALLS))
    checks += 1


cfg = types.SimpleNamespace(model="m", edit_model="e", device="mps", offload="model", compile=True,
                            attention="flash", vae_tiling="auto", random_weights=False)
log = logging.getLogger("check")
loaded = backend.load(cfg, log)
check(("from_pretrained", "ZImagePipeline", ["local_files_only", "torch_dtype"]) in CALLS,
      "torch_dtype= where diffusers has no `dtype=`")
check(("attention", "flash_varlen") in CALLS, "flash runs as flash_varlen (attention masks)")
check(loaded.info["attention"] == "flash_varlen" and loaded.info["attention_masks"] is True, "info says so")
check(("compile_repeated_blocks", {"fullgraph": True}) in CALLS, "regional compile with fullgraph")
check(not any(c[0] == "compile" for c in CALLS), "no whole-model compile where blocks can be compiled")
check(type(loaded.edit_pipe).__name__ == "UNetEditPipeline", "an edit model without a transformer loads")

del CALLS[:]
img2img = loaded.pipeline("img2img")
check(isinstance(img2img, ZImageImg2ImgPipeline), "img2img derived")
check(all(getattr(img2img, k) is v for k, v in loaded.pipe.components.items()), "the same module objects")
check(not any(c[0] == "to" for c in CALLS), "no dtype conversion or move of the shared modules")
check(loaded.pipeline("img2img") is img2img, "built once")
check(loaded.pipeline("inpaint") is None, "no inpaint class, no inpaint pipeline")

check(backend.static_legacy_steps(loaded) is True, "main module without the sigma helper: legacy")
check(backend.static_legacy_steps(loaded, img2img) is False, "module with the helper: fixed")
check(backend.static_legacy_steps(loaded, loaded.edit_pipe) is False, "another family: its own schedule")

check(backend.attention_backend("_flash_3", {"_flash_3", "_flash_varlen_3"}) == ("_flash_varlen_3", True), "fa3")
check(backend.attention_backend("flash", {"flash"}) == ("flash", False), "no varlen: masks unsupported")
check(backend.attention_backend("sdpa", set()) == ("sdpa", True), "sdpa")
plain = Transformer("plain")
plain._repeated_blocks = []
del CALLS[:]
check(backend.compile_transformer(plain) == "whole" and ("compile", {}) in CALLS, "whole-model fallback")

deprecation._resolve_dtype = lambda dtype, torch_dtype: dtype
check(backend.dtype_kwargs("bf16") == {"dtype": "bf16"}, "`dtype=` where diffusers takes it")

del CALLS[:]
loaded._hooked = img2img
backend.release(loaded)
check(CALLS[:2] == [("free_hooks", "ZImageImg2ImgPipeline"), ("free_hooks", "UNetEditPipeline")],
      "offload hooks put back on the hooked and the edit pipeline")
check(("mps_empty_cache",) in CALLS, "MPS cache emptied")
print("ok %d" % checks)
