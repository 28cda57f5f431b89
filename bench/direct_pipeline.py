#!/usr/bin/env python3
"""Baseline for bench/gpu.ts: the same Z-Image pipeline called directly, with no server.

Loads ZImagePipeline (or, with --random-weights, the real architecture randomly
initialised, via python/zimage_random.py), warms up, then times single 1024x1024 images
and one batch of --batch images. Prints one line `RESULT {json}` on stdout.
"""
import argparse
import json
import logging
import os
import sys
import time

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
    except ImportError as exc:
        result({"error": "%s; run `npm run setup:gpu`" % exc}, 2)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        result({"error": "torch.cuda.is_available() is false: no usable NVIDIA GPU"}, 2)

    started = time.perf_counter()
    if args.random_weights:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
        from zimage_random import build_pipeline

        pipe = build_pipeline(diffusers, args.device, torch.bfloat16, log)
    else:
        pipe = diffusers.ZImagePipeline.from_pretrained(args.model, torch_dtype=torch.bfloat16)
        pipe.to(args.device)
    pipe.set_progress_bar_config(disable=True)
    try:
        if args.attention != "sdpa":
            pipe.transformer.set_attention_backend(args.attention)
    except Exception as exc:  # noqa: BLE001 - flash-attn missing is a result, not a crash
        result({"error": "attention backend %s unavailable: %s" % (args.attention, str(exc).splitlines()[0])}, 3)
    if args.compile:
        pipe.transformer.compile()
    # Before diffusers PR #13730 the schedule ends on a no-op timestep 0: one more to get N real steps.
    legacy = not hasattr(sys.modules[type(pipe).__module__], "get_default_z_image_sigmas")
    steps = args.steps + (1 if legacy else 0)
    cuda = args.device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    def generate(n, seed):
        gens = [torch.Generator(args.device).manual_seed(seed + i) for i in range(n)]
        kwargs = dict(prompt=PROMPT, height=args.size, width=args.size, num_inference_steps=steps,
                      guidance_scale=0.0, output_type="pil")
        if n == 1:
            return pipe(generator=gens[0], **kwargs).images
        try:
            return pipe(generator=gens, num_images_per_prompt=n, **kwargs).images
        except AssertionError:  # diffusers 0.36: one image per call
            return [img for g in gens for img in pipe(generator=g, **kwargs).images]

    generate(1, 0)  # warm-up (and compilation, with --compile: once per shape, so the batch too)
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
        "diffusers": diffusers.__version__,
        "torch": torch.__version__,
        "device_name": torch.cuda.get_device_name() if cuda else args.device,
        "compile": args.compile,
        "attention": args.attention,
        "random_weights": args.random_weights,
    })


if __name__ == "__main__":
    main()
