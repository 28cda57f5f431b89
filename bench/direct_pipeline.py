#!/usr/bin/env python3
"""Baseline for bench/gpu.ts: the same Z-Image pipeline called directly, with no server.

Loads ZImagePipeline (or, with --random-weights, the real architecture randomly
initialised, via python/zimage_random.py), warms up, then times single 1024x1024 images
and one batch of --batch images. Prints one line `RESULT {json}` on stdout.

Set up like the server's worker, through the same helpers in python/zimage_backend.py:
the offload mode (--offload: bench/gpu.ts passes the one the server resolved), the
attention backend mapping, regional compilation, the allocator setting, and exactly
--steps transformer passes per image on every diffusers version.
"""
import argparse
import json
import logging
import os
import sys
import time

# Before torch is imported, as the server does for its worker (src/engines/diffusers/options.ts).
if "PYTORCH_ALLOC_CONF" not in os.environ:
    os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

PROMPT = ("A lighthouse on a rocky coast at dusk, waves breaking, warm light in the windows, "
          "photorealistic, 35mm photograph")


def result(payload, code=0):
    sys.stdout.write("RESULT " + json.dumps(payload) + "\n")
    sys.stdout.flush()
    sys.exit(code)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.environ.get("ZIMAGE_MODEL") or "Tongyi-MAI/Z-Image-Turbo")
    ap.add_argument("--random-weights", action="store_true")
    ap.add_argument("--device", default=os.environ.get("ZIMAGE_DEVICE") or "cuda")
    ap.add_argument("--offload", default=os.environ.get("ZIMAGE_OFFLOAD") or "auto",
                    choices=["auto", "none", "model", "sequential"])
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=8, help="real denoising steps (8 for Turbo)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--attention", default="sdpa", choices=["sdpa", "flash", "_flash_3"])
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    log = logging.getLogger("bench.direct")

    try:
        import torch
        import diffusers
        import zimage_backend as backend
    except ImportError as exc:
        result({"error": "%s; run `npm run setup:gpu`" % exc}, 2)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        result({"error": "torch.cuda.is_available() is false: no usable NVIDIA GPU"}, 2)

    started = time.perf_counter()
    offload = backend.resolve_offload(argparse.Namespace(offload=args.offload, device=args.device), log)
    if args.random_weights:
        from zimage_random import build_pipeline

        pipe = build_pipeline(diffusers, args.device, torch.bfloat16, log)
    else:
        pipe = backend.from_pretrained(diffusers.ZImagePipeline, args.model, torch.bfloat16, log)
    pipe.set_progress_bar_config(disable=True)
    attention, _ = backend.attention_backend(args.attention, backend.available_attention_backends())
    try:
        if attention != "sdpa":
            pipe.transformer.set_attention_backend(attention)
    except Exception as exc:  # noqa: BLE001 - flash-attn missing is a result, not a crash
        result({"error": "attention backend %s unavailable: %s" % (attention, str(exc).splitlines()[0])}, 3)
    backend.place(pipe, offload, args.device)
    compiled = None
    if args.compile and offload != "sequential":
        compiled = backend.compile_transformer(pipe.transformer)
    # Before diffusers PR #13730 the schedule ends on a no-op timestep 0: one more step to get N real
    # ones, and that last pass is skipped (as the server does), so both paths run N transformer passes.
    legacy = backend.static_legacy_steps(None, pipe)
    steps = args.steps + (1 if legacy else 0)
    cuda = args.device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    def skip_terminal(p, i, t, callback_kwargs):
        if legacy and i == p._num_timesteps - 2:
            p._interrupt = True
        return {}

    def generate(n, seed):
        device = "cpu" if args.device.startswith("mps") else args.device
        gens = [torch.Generator(device).manual_seed(seed + i) for i in range(n)]
        kwargs = dict(prompt=PROMPT, height=args.size, width=args.size, num_inference_steps=steps,
                      guidance_scale=0.0, output_type="pil", callback_on_step_end=skip_terminal)
        if n == 1:
            return pipe(generator=gens[0], **kwargs).images
        return pipe(generator=gens, num_images_per_prompt=n, **kwargs).images

    generate(1, 0)  # warm-up (and compilation with --compile; a new batch size may recompile, so the batch too)
    generate(args.batch, 50)
    sync()
    load_seconds = time.perf_counter() - started
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times = []
    for run in range(args.runs):
        t0 = time.perf_counter()
        generate(1, 1 + run)
        sync()
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    images = generate(args.batch, 100)
    sync()
    batch_seconds = time.perf_counter() - t0
    result({
        "seconds_per_image": sorted(times)[len(times) // 2],
        "all_seconds": [round(t, 4) for t in times],
        "batch": args.batch,
        "batch_images": len(images),
        "images_per_second_batch": len(images) / batch_seconds,
        "peak_vram_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "load_seconds": round(load_seconds, 1),
        "steps": args.steps,
        "num_inference_steps": steps,
        "legacy_schedule": legacy,
        "offload": offload,
        "diffusers": diffusers.__version__,
        "torch": torch.__version__,
        "device_name": torch.cuda.get_device_name() if cuda else args.device,
        "compile": compiled,
        "attention": attention,
        "random_weights": args.random_weights,
    })


if __name__ == "__main__":
    main()
