"""A randomly initialised Z-Image of the real architecture, for benchmarks where no weights
can be downloaded (ZIMAGE_RANDOM_WEIGHTS=1).

The transformer, text encoder and VAE are the real classes built from the real model's
configuration (ZImageTransformer2DModel 6B, Qwen3-4B, the FLUX-style 16-channel VAE), so
speed and memory match the real model; the pictures are noise. The tokenizer cannot be
built without downloading its vocabulary, so a stand-in with the same interface is used:
it cuts the UTF-8 prompt into 4-byte pieces (about the length of Qwen's tokens, so the
text encoder sees realistic sequence lengths) and hashes each piece to a token id.
ZIMAGE_RANDOM_WEIGHTS_SIZE=tiny builds a miniature of the same classes (seconds on a CPU),
for checking the code path itself.
"""
import hashlib
import os

TRANSFORMER = dict(all_patch_size=(2,), all_f_patch_size=(1,), in_channels=16, dim=3840, n_layers=30,
                   n_refiner_layers=2, n_heads=30, n_kv_heads=30, norm_eps=1e-5, qk_norm=True, cap_feat_dim=2560,
                   rope_theta=256.0, t_scale=1000.0, axes_dims=[32, 48, 48], axes_lens=[1024, 512, 512])
QWEN3_4B = dict(vocab_size=151936, hidden_size=2560, intermediate_size=9728, num_hidden_layers=36,
                num_attention_heads=32, num_key_value_heads=8, head_dim=128, max_position_embeddings=40960,
                rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True, hidden_act="silu")
VAE = dict(in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 4,
           up_block_types=["UpDecoderBlock2D"] * 4, block_out_channels=[128, 256, 512, 512], layers_per_block=2,
           latent_channels=16, norm_num_groups=32, act_fn="silu", sample_size=1024, scaling_factor=0.3611,
           shift_factor=0.1159, use_quant_conv=False, use_post_quant_conv=False, mid_block_add_attention=True)
SCHEDULER = dict(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=False)

TINY_TRANSFORMER = dict(TRANSFORMER, dim=64, n_layers=2, n_refiner_layers=1, n_heads=2, n_kv_heads=2,
                        cap_feat_dim=32, axes_dims=[8, 12, 12], axes_lens=[1024, 64, 64])
TINY_QWEN3 = dict(QWEN3_4B, vocab_size=4096, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                  num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=1024)
TINY_VAE = dict(VAE, block_out_channels=[32, 32, 32, 32], layers_per_block=1)


class _Encoded:
    def __init__(self, input_ids, attention_mask):
        self.input_ids = input_ids
        self.attention_mask = attention_mask


class StandInTokenizer:
    """The two calls ZImagePipeline makes of its tokenizer: apply_chat_template and __call__."""

    def __init__(self, vocab_size):
        self.vocab_size = vocab_size
        self.pad_token_id = 0

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True, **kwargs):
        text = "".join("<|im_start|>%s\n%s<|im_end|>\n" % (m["role"], m["content"]) for m in messages)
        return text + ("<|im_start|>assistant\n" if add_generation_prompt else "")

    def _ids(self, text):
        data = text.encode("utf-8")
        pieces = [data[i:i + 4] for i in range(0, len(data), 4)]
        return [1 + int.from_bytes(hashlib.blake2s(p, digest_size=4).digest(), "big") % (self.vocab_size - 1)
                for p in pieces]

    def __call__(self, texts, padding="max_length", max_length=512, truncation=True, return_tensors="pt", **kwargs):
        import torch

        texts = [texts] if isinstance(texts, str) else texts
        rows = [self._ids(t)[:max_length] for t in texts]
        ids = torch.zeros((len(rows), max_length), dtype=torch.long)
        mask = torch.zeros((len(rows), max_length), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = 1
        return _Encoded(ids, mask)


def build_pipeline(diffusers, device, dtype, log):
    import torch
    from transformers import Qwen3Config, Qwen3Model

    tiny = os.environ.get("ZIMAGE_RANDOM_WEIGHTS_SIZE", "full") == "tiny"
    t_cfg, q_cfg, v_cfg = (TINY_TRANSFORMER, TINY_QWEN3, TINY_VAE) if tiny else (TRANSFORMER, QWEN3_4B, VAE)
    log.warning("ZIMAGE_RANDOM_WEIGHTS: building a randomly initialised %s Z-Image; its images are noise",
                "tiny" if tiny else "full-size")
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    # Built directly in bf16 on the device: 6B fp32 parameters initialised on a CPU would take minutes.
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            transformer = diffusers.ZImageTransformer2DModel(**t_cfg)
            text_encoder = Qwen3Model(Qwen3Config(**q_cfg))
            vae = diffusers.AutoencoderKL(**v_cfg)
    finally:
        torch.set_default_dtype(previous)
    with torch.no_grad():
        # Created with torch.empty upstream: NaNs would otherwise poison every output.
        transformer.x_pad_token.copy_(torch.ones_like(transformer.x_pad_token))
        transformer.cap_pad_token.copy_(torch.ones_like(transformer.cap_pad_token))
    return diffusers.ZImagePipeline(
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(**SCHEDULER),
        vae=vae, text_encoder=text_encoder, tokenizer=StandInTokenizer(q_cfg["vocab_size"]), transformer=transformer)
