"""Fast check of what the diffusers engine needs; prints one JSON object on stdout.

Run by the server before it starts the worker (src/engines/diffusers/probe.ts), so that
`ZIMAGE_ENGINE=diffusers` without torch, diffusers, transformers, accelerate or a GPU fails
in seconds with a message naming what is missing. Uses only the standard library until torch itself, and
never imports the pipelines (that can take long): their modules are only looked up.
Usage: python probe.py [device]
"""
import importlib
import importlib.util
import json
import os
import sys


def find(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def version_of(dist):
    try:
        from importlib.metadata import version
        return version(dist)
    except Exception:  # noqa: BLE001 - not installed
        return None


def diffusers_version():
    """From the installed distribution, else (a source checkout on PYTHONPATH) from the package."""
    found = version_of("diffusers")
    if found or not find("diffusers"):
        return found
    try:
        import diffusers  # lazy package: cheap, the pipelines are not imported
        return getattr(diffusers, "__version__", "unknown")
    except Exception:  # noqa: BLE001
        return None


def module_version(name):
    """Version of an importable module (find_spec, so a leftover dist-info without the package does not
    count), "unknown" for a source checkout without metadata, None when it cannot be imported."""
    if not find(name):
        return None
    return version_of(name) or "unknown"


def probe_real(device):
    result = {"python": "%d.%d.%d" % sys.version_info[:3], "executable": sys.executable, "device": device,
              "torch": None, "cuda_available": False, "device_ok": False, "device_name": None,
              "free_vram_gb": None, "total_vram_gb": None, "diffusers": diffusers_version(),
              "transformers": module_version("transformers"), "accelerate": module_version("accelerate"),
              "has_zimage": False, "has_img2img": False, "has_inpaint": False, "errors": []}
    try:
        import torch
        result["torch"] = torch.__version__
        result["cuda_available"] = bool(torch.cuda.is_available())
        result["cuda_version"] = torch.version.cuda
        kind = device.split(":")[0]
        if kind == "cuda" and result["cuda_available"]:
            index = int(device.split(":")[1]) if ":" in device else torch.cuda.current_device()
            if index < torch.cuda.device_count():
                result["device_ok"] = True
                result["device_name"] = torch.cuda.get_device_name(index)
                free, total = torch.cuda.mem_get_info(index)
                result["free_vram_gb"] = round(free / 2**30, 2)
                result["total_vram_gb"] = round(total / 2**30, 2)
            else:
                result["errors"].append("%s asked for, but only %d CUDA device(s)" % (device, torch.cuda.device_count()))
        elif kind == "mps":
            result["device_ok"] = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
            result["device_name"] = "Apple MPS" if result["device_ok"] else None
        elif kind == "cpu":
            result["device_ok"] = True
            result["device_name"] = "CPU"
    except Exception as exc:  # noqa: BLE001 - report, don't crash
        result["errors"].append("import torch: %s: %s" % (type(exc).__name__, exc))
    if result["diffusers"]:
        base = "diffusers.pipelines.z_image."
        result["has_zimage"] = find(base + "pipeline_z_image")
        result["has_img2img"] = find(base + "pipeline_z_image_img2img")
        result["has_inpaint"] = find(base + "pipeline_z_image_inpaint")
    return result


def main():
    device = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ZIMAGE_DEVICE", "cuda")
    module = os.environ.get("ZIMAGE_PIPELINE_MODULE")
    if module:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from zimage_loader import load_module  # noqa: E402
        result = load_module(module).probe(device)
    else:
        result = probe_real(device)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
