"""The production scorer: thumbnail + clip choice for many (user, item) pairs at once.

Same formulas as ``selection.select_for_item`` (the paper's reference), computed for a
whole worklist shard in a few batched matrix products instead of one Python call per
item, so the cost is proportional to the candidate pairs, never users x all items:

* pairs are grouped by item; items with the same number of sampled frames are packed
  into blocks, each block one ``bmm`` of (items, users-per-item, d) x (items, d, frames);
  items sorted by pair count, so padding to the block's widest item wastes little;
* a block holds at most ``chunk_rows`` taste-or-frame rows, which bounds peak memory
  (about ``chunk_rows x d x 4`` bytes for the gathered tastes) whatever the shard size;
* an item with more pairs than fit in one block is split over several.

On top of the reference it applies the production policies, each off by default so the
reference is reproduced exactly when none is asked for:

* ``poor`` frames (per item) are never the thumbnail unless every frame of the item is poor;
* ``window_len`` per pair (clip length bounds, see ``clip_length``);
* stability: a pair's previous frame / window is kept unless today's best beats it by
  more than the margin (scores of the previous choice are recomputed with today's taste).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from generec_core.config import EditorConfig
from generec_core.editor.selection import ItemFrames, window_means

DEFAULT_CHUNK_ROWS = EditorConfig.chunk_rows


@dataclass(frozen=True)
class PreviousChoices:
    """Yesterday's choice per pair (aligned with the pairs); -1 where there is none."""

    frame_idx: np.ndarray  # (P,) int
    window_start: np.ndarray  # (P,) int
    window_end: np.ndarray  # (P,) int, inclusive

    @classmethod
    def none(cls, n_pairs: int) -> "PreviousChoices":
        empty = np.full(n_pairs, -1, dtype=np.int64)
        return cls(empty, empty.copy(), empty.copy())


@dataclass(frozen=True)
class PairChoices:
    """The choice per pair, aligned with the input pairs (struct of arrays: no object per pair)."""

    frame_idx: np.ndarray  # (P,) int32
    frame_score: np.ndarray  # (P,) float32: cosine(taste, chosen frame)
    window_start: np.ndarray  # (P,) int32: first sampled frame of the clip window
    window_end: np.ndarray  # (P,) int32: last sampled frame (inclusive)
    clip_score: np.ndarray  # (P,) float32: mean cosine over the chosen window
    kept_frame: np.ndarray  # (P,) bool: yesterday's thumbnail kept by the stability margin
    kept_window: np.ndarray  # (P,) bool: yesterday's clip kept by the stability margin


def score_pairs(tastes: np.ndarray, pair_user: np.ndarray, pair_item: np.ndarray,
                items: Sequence[ItemFrames], *, length: int, stride: int,
                window_len: np.ndarray | None = None, previous: PreviousChoices | None = None,
                frame_margin: float = 0.0, clip_margin: float = 0.0, use_quality: bool = True,
                chunk_rows: int = DEFAULT_CHUNK_ROWS, device: str = "cpu") -> PairChoices:
    """Best frame and clip window for each pair ``(tastes[pair_user[p]], items[pair_item[p]])``.

    ``tastes`` rows and frame embeddings are unit-norm, so a dot product is the cosine.
    ``window_len`` (per pair, default ``length``) is clamped to the item's frame count.
    """
    pair_user = np.asarray(pair_user, dtype=np.int64)
    pair_item = np.asarray(pair_item, dtype=np.int64)
    n_pairs = len(pair_user)
    if len(pair_item) != n_pairs:
        raise ValueError(f"pair_user ({n_pairs}) and pair_item ({len(pair_item)}) differ in length")
    if length < 1 or stride < 1:
        raise ValueError(f"clip window length and stride must be >= 1, got {length}, {stride}")
    n_frames = np.array([len(it.timestamps) for it in items], dtype=np.int64)
    if n_pairs and (n_frames[pair_item] == 0).any():
        raise ValueError("an item in the pairs has no sampled frames")
    wl = np.full(n_pairs, length, np.int64) if window_len is None else np.asarray(window_len, np.int64)
    wl = np.clip(wl, 1, None)
    wl = np.minimum(wl, n_frames[pair_item]) if n_pairs else wl
    prev = previous or PreviousChoices.none(n_pairs)
    out = _empty_choices(n_pairs)
    if n_pairs == 0:
        return out
    dims = {np.shape(items[i].embeddings)[1] for i in np.unique(pair_item).tolist()}
    if dims != {np.shape(tastes)[1]}:
        raise ValueError(f"taste dim {np.shape(tastes)[1]} does not match frame embedding dim(s) {sorted(dims)}")
    tastes_t = torch.as_tensor(np.ascontiguousarray(tastes, dtype=np.float32), device=device)
    space = _Workspace(max(chunk_rows, int(n_frames.max()) + 1), tastes_t.shape[1], device)
    for frame_count, block in _blocks(pair_item, n_frames, chunk_rows):
        block_items = [it for it, _ in block]
        bank = space.frames(items, block_items, frame_count)
        usable = _usable(items, block_items, frame_count, use_quality, device)
        _score_block(tastes_t, pair_user, block, bank, usable, wl, stride, prev, frame_margin, clip_margin,
                     space, out)
    return out


class _Workspace:
    """Gather buffers reused by every block: fresh block-sized allocations would each pay
    their page faults again (measured: 3x slower gathers on CPU), and their size is what
    bounds the scorer's memory, about ``2 x chunk_rows x d x 4`` bytes."""

    def __init__(self, chunk_rows: int, dim: int, device: str) -> None:
        self.tastes = torch.empty((chunk_rows, dim), dtype=torch.float32, device=device)
        self._frames = np.empty((chunk_rows, dim), dtype=np.float32)
        self.device = device

    def frames(self, items: Sequence[ItemFrames], block_items: list[int], frame_count: int) -> torch.Tensor:
        view = self._frames[:len(block_items) * frame_count].reshape(len(block_items), frame_count, -1)
        np.stack([np.asarray(items[i].embeddings, dtype=np.float32) for i in block_items], out=view)
        return torch.from_numpy(view).to(self.device)


def _empty_choices(n: int) -> PairChoices:
    return PairChoices(np.zeros(n, np.int32), np.zeros(n, np.float32), np.zeros(n, np.int32),
                       np.zeros(n, np.int32), np.zeros(n, np.float32), np.zeros(n, bool), np.zeros(n, bool))


def _blocks(pair_item: np.ndarray, n_frames: np.ndarray, chunk_rows: int):
    """Yield (frame_count, [(item, pair positions), ...]) blocks within the row budget."""
    order = np.argsort(pair_item, kind="stable")
    items, starts, counts = np.unique(pair_item[order], return_index=True, return_counts=True)
    by_frames: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)
    for item, start, count in zip(items.tolist(), starts.tolist(), counts.tolist()):
        frames = int(n_frames[item])
        piece = max(1, chunk_rows - frames)  # an item wider than a block is split
        for s in range(start, start + count, piece):
            by_frames[frames].append((item, order[s:min(s + piece, start + count)]))
    for frames in sorted(by_frames):
        segments = sorted(by_frames[frames], key=lambda seg: (len(seg[1]), seg[0]))
        block: list[tuple[int, np.ndarray]] = []
        for seg in segments:  # ascending width: the newest segment is the block's widest
            if block and (len(block) + 1) * (len(seg[1]) + frames) > chunk_rows:
                yield frames, block
                block = []
            block.append(seg)
        if block:
            yield frames, block


def _usable(items: Sequence[ItemFrames], block_items: list[int], frame_count: int, use_quality: bool,
            device: str) -> torch.Tensor | None:
    """(items, frames) mask of frames a thumbnail may use; None when every frame may be used.

    An item whose frames are all poor keeps them all: a poor frame beats no thumbnail.
    """
    if not use_quality or all(items[i].poor is None or not np.any(items[i].poor) for i in block_items):
        return None
    mask = np.ones((len(block_items), frame_count), dtype=bool)
    for row, i in enumerate(block_items):
        poor = items[i].poor
        if poor is not None and not np.all(poor):
            mask[row] = ~np.asarray(poor, dtype=bool)
    return torch.as_tensor(mask, device=device)


def _score_block(tastes_t: torch.Tensor, pair_user: np.ndarray, block: list[tuple[int, np.ndarray]],
                 bank: torch.Tensor, usable: torch.Tensor | None, wl: np.ndarray, stride: int,
                 prev: PreviousChoices, frame_margin: float, clip_margin: float, space: _Workspace,
                 out: PairChoices) -> None:
    """One bmm for the block, then argmax / window means / stability on its (pairs, frames) sims."""
    device = bank.device
    widths = [len(positions) for _, positions in block]
    width = max(widths)
    user_idx = np.zeros((len(block), width), dtype=np.int64)  # padding cells read user 0, then are dropped
    valid = np.zeros((len(block), width), dtype=bool)
    for row, (_, positions) in enumerate(block):
        user_idx[row, :len(positions)] = pair_user[positions]
        valid[row, :len(positions)] = True
    pos = np.concatenate([positions for _, positions in block])  # row-major order of the valid cells
    gathered = space.tastes[:user_idx.size]
    torch.index_select(tastes_t, 0, torch.as_tensor(user_idx.ravel(), device=device), out=gathered)
    sims = torch.bmm(gathered.view(len(block), width, -1), bank.transpose(1, 2))  # (items, width, frames)
    sims = sims[torch.as_tensor(valid, device=device)]  # (pairs, frames), rows in the order of ``pos``
    n_pairs, n_frames = sims.shape
    rows = torch.arange(n_pairs, device=device)

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a, device=device)

    ok = None
    if usable is not None:
        ok = usable[t(np.repeat(np.arange(len(block)), widths))]
    best_score, best_idx = (sims if ok is None else sims.masked_fill(~ok, float("-inf"))).max(dim=1)
    prev_f = t(prev.frame_idx[pos])
    prev_c = prev_f.clamp(0, n_frames - 1)
    has = (prev_f >= 0) & (prev_f < n_frames)
    if ok is not None:
        has &= ok[rows, prev_c]
    prev_score = sims[rows, prev_c]
    keep = has & (best_score - prev_score <= frame_margin)
    frame_idx = torch.where(keep, prev_c, best_idx)
    frame_score = torch.where(keep, prev_score, best_score)

    w_len = t(wl[pos])
    w_start = torch.zeros(n_pairs, dtype=torch.int64, device=device)
    clip_score = torch.zeros(n_pairs, dtype=sims.dtype, device=device)
    for length in torch.unique(w_len).tolist():
        sel = torch.nonzero(w_len == length).squeeze(1)
        part = sims if len(sel) == n_pairs else sims[sel]
        means, starts = window_means(part, length, min(stride, length))
        score, best = means.max(dim=1)
        w_start[sel], clip_score[sel] = t(np.asarray(starts))[best], score
    prev_clip, keep_w = _previous_windows(sims, t(prev.window_start[pos]), t(prev.window_end[pos]), clip_score,
                                          clip_margin)
    ps_c = t(prev.window_start[pos]).clamp(0, n_frames - 1)
    pe_c = t(prev.window_end[pos]).clamp(0, n_frames - 1)

    out.frame_idx[pos] = frame_idx.cpu().numpy()
    out.frame_score[pos] = frame_score.cpu().numpy()
    out.kept_frame[pos] = (keep & (best_idx != prev_c)).cpu().numpy()
    out.window_start[pos] = torch.where(keep_w, ps_c, w_start).cpu().numpy()
    out.window_end[pos] = torch.where(keep_w, pe_c, w_start + w_len - 1).cpu().numpy()
    out.clip_score[pos] = torch.where(keep_w, prev_clip, clip_score).cpu().numpy()
    out.kept_window[pos] = (keep_w & ((ps_c != w_start) | (pe_c != w_start + w_len - 1))).cpu().numpy()


def _previous_windows(sims: torch.Tensor, ps: torch.Tensor, pe: torch.Tensor, best: torch.Tensor,
                      margin: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean of each pair's previous window, whether to keep it); computed only where one exists."""
    n_frames = sims.shape[1]
    has = (ps >= 0) & (pe >= ps) & (pe < n_frames)
    prev_clip = torch.zeros_like(best)
    keep = torch.zeros_like(has)
    idx = torch.nonzero(has).squeeze(1)
    if len(idx):
        csum = torch.nn.functional.pad(sims[idx].double().cumsum(dim=1), (1, 0))
        r = torch.arange(len(idx), device=sims.device)
        means = ((csum[r, pe[idx] + 1] - csum[r, ps[idx]]) / (pe[idx] - ps[idx] + 1)).to(best.dtype)
        prev_clip[idx] = means
        keep[idx] = best[idx] - means <= margin
    return prev_clip, keep
