"""The real CLIP tokenizer, built offline from OpenAI's BPE merges file.

CLIP checkpoints ship their tokenizer files, so production never needs this. Offline
tests and tiny models built from a config do: they need CLIP's real 49408-token vocabulary,
which no reachable registry serves as Hugging Face tokenizer files. OpenAI's merges file
(``bpe_simple_vocab_16e6.txt.gz``) ships in the ``openai-clip`` package (a test dependency;
it needs no torchvision, unlike ``open_clip_torch``). Its ``clip`` package imports
torchvision, so the file is located without importing it.

The vocabulary is rebuilt exactly as OpenAI's ``SimpleTokenizer`` builds it: the 256 byte
symbols, the same with ``</w>``, one token per merge (the first 48894), then the start and
end tokens.
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

from generec_core.embedding.base import EncoderUnavailable

VOCAB_FILE = "bpe_simple_vocab_16e6.txt.gz"
N_MERGES = 49152 - 256 - 2
VOCAB_SIZE = 49408


def bpe_path() -> Path:
    """Where ``openai-clip`` installed the BPE merges file (without importing its package)."""
    spec = importlib.util.find_spec("clip")
    for base in (spec.submodule_search_locations or []) if spec else []:
        path = Path(base) / VOCAB_FILE
        if path.is_file():
            return path
    raise EncoderUnavailable(f"CLIP's BPE vocabulary ({VOCAB_FILE}) needs the PyPI package 'openai-clip' "
                             "(pip install openai-clip==1.0.1)")


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character map."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = bs[:]
    extra = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def vocab_and_merges(path: Path | None = None) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """CLIP's token -> id map and ordered merges, from the gzipped merges file."""
    lines = gzip.open(path or bpe_path()).read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1:N_MERGES + 1]]
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {token: i for i, token in enumerate(tokens)}
    if len(vocab) != VOCAB_SIZE:
        raise ValueError(f"{path or VOCAB_FILE}: built {len(vocab)} tokens, expected {VOCAB_SIZE}")
    return vocab, merges  # type: ignore[return-value]


def clip_tokenizer(path: Path | None = None, model_max_length: int = 77):
    """A transformers ``CLIPTokenizer`` with CLIP's real vocabulary (``save_pretrained``-able)."""
    from transformers import CLIPTokenizer

    vocab, merges = vocab_and_merges(path)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=model_max_length)
