"""Checks of the real latent previewer (zimage_backend.LatentPreviewer) with real torch, on the CPU.

No model is needed: a toy flow-matching run (x = (1 - sigma) x0 + sigma noise, Euler steps with the
exact velocity) stands in for the pipeline, so the denoised estimate must come out as x0 itself, and
the RGB projection must be the published linear map. Prints "ok N", or "skip: ..." (exit 0) where
torch is not installed. Run by test/engines/diffusers-previews.test.ts.
"""
import os
import sys
import types

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

try:
    import torch
except ImportError:
    print("skip: torch is not installed for %s" % sys.executable)
    sys.exit(0)

import zimage_backend as backend  # noqa: E402

checks = 0


def check(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1


class Scheduler:
    """FlowMatchEulerDiscreteScheduler's bookkeeping: sigmas (with a final 0) and step_index after each step."""

    def __init__(self, sigmas):
        self.sigmas = torch.tensor(sigmas + [0.0])
        self.step_index = None


def expected_rgb(x0, max_side):
    matrix = torch.tensor(backend.FLUX_LATENT_RGB)
    bias = torch.tensor(backend.FLUX_LATENT_RGB_BIAS)
    rgb = torch.einsum("bchw,cr->brhw", x0[:1], matrix) + bias.view(1, 3, 1, 1)
    rgb = ((rgb + 1) / 2).clamp(0, 1)
    h, w = rgb.shape[-2:]
    scale = max(h, w) / max_side
    if scale > 1:
        rgb = torch.nn.functional.interpolate(rgb, size=(round(h / scale), round(w / scale)), mode="area")
    return (rgb[0].permute(1, 2, 0) * 255).round().to(torch.uint8)


def run(batch, height, width, every, max_side, seed=0):
    """A toy run of 8 steps; returns the previews the runner's protocol would send, and x0."""
    gen = torch.Generator().manual_seed(seed)
    x0 = torch.randn(batch, 16, height, width, generator=gen) * 0.8
    noise = torch.randn(batch, 16, height, width, generator=gen)
    sigmas = [1.0 - i / 8 for i in range(8)]
    scheduler = Scheduler(sigmas)
    pipe = types.SimpleNamespace(scheduler=scheduler)
    previewer = backend.latent_previewer(None, pipe, max_side)
    latents = noise.clone()
    scheduler.step_index = 0
    sent = []
    for i in range(8):
        sigma, sigma_next = scheduler.sigmas[scheduler.step_index], scheduler.sigmas[scheduler.step_index + 1]
        velocity = noise - x0
        latents = latents + (sigma_next - sigma) * velocity
        scheduler.step_index += 1
        step = i + 1
        ready = previewer.poll()
        if ready is not None:
            sent.append(ready)
        want = step % every == 0 and step < 8
        keep = (step + 1) % every == 0 and step + 1 < 8
        if want or keep:
            previewer.step(latents, want, keep, (step, 8))
    return sent, x0


sent, x0 = run(batch=2, height=64, width=48, every=2, max_side=256)
check([s[0] for s in sent] == [(2, 8), (4, 8), (6, 8)], "previews at steps 2, 4, 6 (not 8), sent one poll later: %r"
      % [s[0] for s in sent])
for tag, width, height, data in sent:
    check((width, height) == (48, 64), "latent resolution kept when it fits: %r" % ((width, height),))
    check(len(data) == width * height * 3 and isinstance(data, bytes), "packed RGB bytes")
    got = torch.frombuffer(bytearray(data), dtype=torch.uint8).view(height, width, 3).int()
    # The denoised estimate is x0 itself on an exact flow: every preview is the x0 picture.
    diff = (got - expected_rgb(x0, 256).int()).abs().max().item()
    check(diff <= 1, "preview of step %d is the projection of x0 (max difference %d)" % (tag[0], diff))

sent, x0 = run(batch=1, height=300, width=200, every=1, max_side=100, seed=3)
# Step 1 has no step before it (its preview shows the noisy latents); none of the last step (8).
check([s[0][0] for s in sent] == [1, 2, 3, 4, 5, 6, 7], "every step but the last: %r" % [s[0][0] for s in sent])
check(all((w, h) == (67, 100) for _, w, h, _ in sent), "scaled to fit max_side: %r" % [(w, h) for _, w, h, _ in sent])
got = torch.frombuffer(bytearray(sent[-1][3]), dtype=torch.uint8).view(100, 67, 3).int()
check((got - expected_rgb(x0, 100).int()).abs().max().item() <= 1, "scaled preview matches")

# Other latent layouts (packed Flux latents, 4-channel SD latents) make no preview and no error.
pipe = types.SimpleNamespace(scheduler=Scheduler([1.0, 0.5]))
pipe.scheduler.step_index = 1
previewer = backend.latent_previewer(None, pipe, 256)
previewer.step(torch.zeros(1, 4, 8, 8), True, True, (1, 2))
previewer.step(torch.zeros(1, 64, 16), True, True, (1, 2))
previewer.step(None, True, True, (1, 2))
check(previewer.poll() is None, "no preview of latents that are not a 16-channel grid")

# No scheduler bookkeeping (another pipeline family): the noisy latents themselves are shown.
bare = backend.latent_previewer(None, types.SimpleNamespace(), 256)
x = torch.randn(1, 16, 8, 8)
bare.step(x, False, True, (1, 4))
bare.step(x, True, False, (2, 4))
tag, w, h, data = bare.poll()
got = torch.frombuffer(bytearray(data), dtype=torch.uint8).view(8, 8, 3).int()
check(tag == (2, 4) and (got - expected_rgb(x, 256).int()).abs().max().item() <= 1, "x itself without sigmas")
check(bare.poll() is None, "sent once")
print("ok %d" % checks)
