"""The production scorer: thumbnail + clip choice for many (user, item) pairs at once.

Same formulas as ``selection.select_for_item`` (the paper's reference), computed for a
whole worklist shard in a few batched matrix products instead of one Python call per
item, so the cost is proportional to the candidate pairs, never users x all items:

* pairs are grouped by item; items with the same number of sampled frames are packed
  into blocks, each block one ``bmm`` of (items, users-per-item, d) x (items, d, frames);
  items sorted by pair count, so padding to the block's widest item wastes little;
* a block holds at most ``chunk_rows`` taste-or-frame rows, which bounds peak memory
  (about ``2 x chunk_rows x d x 4`` bytes: the gathered tastes and the frame bank, plus
  ``chunk_rows x frames`` similarities) whatever the shard size;
* an item with more pairs than fit in one block is split over several;
* after the bmm, argmax and window means run on the padded product as it is (no copy of the
  valid rows), and only per-pair results are picked out.
  A block's bookkeeping (which grid cell holds which pair) is a few vectorised numpy calls.

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

    def any(self) -> bool:
        """Whether any pair has a previous frame or window (-1 everywhere means none)."""
        return bool((np.asarray(self.frame_idx) >= 0).any() or (np.asarray(self.window_start) >= 0).any())


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
    prev = previous if previous is not None and previous.any() else None  # None: no per-block lookups
    per_pair_wl = None if window_len is None else wl  # None: one length per block, no per-block lookups
    out = _empty_choices(n_pairs)
    if n_pairs == 0:
        return out
    dims = {np.shape(items[i].embeddings)[1] for i in np.flatnonzero(np.bincount(pair_item)).tolist()}
    if dims != {np.shape(tastes)[1]}:
        raise ValueError(f"taste dim {np.shape(tastes)[1]} does not match frame embedding dim(s) {sorted(dims)}")
    tastes_t = torch.as_tensor(np.ascontiguousarray(tastes, dtype=np.float32), device=device)
    space = _Workspace(max(chunk_rows, int(n_frames.max()) + 1), tastes_t.shape[1], device)
    for frame_count, block in _blocks(pair_item, n_frames, chunk_rows):
        block_items = [it for it, _ in block]
        bank = space.frames(items, block_items, frame_count)
        usable = _usable(items, block_items, frame_count, use_quality, device)
        _score_block(tastes_t, pair_user, block, bank, usable, min(length, frame_count) if per_pair_wl is None
                     else per_pair_wl, stride, prev, frame_margin, clip_margin, space, out)
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
    order = _stable_order(pair_item, len(n_frames))
    counts = np.bincount(pair_item, minlength=len(n_frames))
    ends = np.cumsum(counts)
    items = np.flatnonzero(counts)
    by_frames: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)
    for item, start, end in zip(items.tolist(), (ends - counts)[items].tolist(), ends[items].tolist()):
        frames = int(n_frames[item])
        piece = max(1, chunk_rows - frames)  # an item wider than a block is split
        for s in range(start, end, piece):
            by_frames[frames].append((item, order[s:min(s + piece, end)]))
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


def _stable_order(pair_item: np.ndarray, n_items: int) -> np.ndarray:
    """Pair positions grouped by item, in input order within an item (``argsort(kind="stable")``).

    Item ids below 2**16 are sorted as uint16, for which numpy's stable sort is a radix sort:
    linear, several times faster than the merge sort it uses for int64 on a million pairs.
    """
    keys = pair_item.astype(np.uint16) if n_items <= 1 << 16 else pair_item
    return np.argsort(keys, kind="stable")


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
                 bank: torch.Tensor, usable: torch.Tensor | None, wl: np.ndarray | int, stride: int,
                 prev: PreviousChoices | None, frame_margin: float, clip_margin: float, space: _Workspace,
                 out: PairChoices) -> None:
    """One bmm for the block, then argmax / window means / stability, written into ``out``.

    ``wl`` is the per-pair window length array, or the block's one length; ``prev`` is None
    when no pair has a previous choice (then no per-pair lookups are made at all).

    The reductions run on the padded (items * width, frames) product as it comes out of the
    bmm (the planner keeps padding small: 0.5% of rows in the benchmark) and only their per-pair
    results are picked: cheaper than first copying the valid rows out; each row's arithmetic,
    hence every choice and tie, is unchanged.
    """
    device = bank.device
    grid = _Grid.of(pair_user, block)
    gathered = space.tastes[:grid.users.size]
    torch.index_select(tastes_t, 0, torch.as_tensor(grid.users, device=device), out=gathered)
    sims3 = torch.bmm(gathered.view(len(block), grid.width, -1), bank.transpose(1, 2))  # (items, width, frames)
    cells = torch.as_tensor(grid.cells, device=device)
    _choose(sims3, cells, grid, usable, wl, stride, prev, frame_margin, clip_margin, out)


def _choose(sims3: torch.Tensor, cells: torch.Tensor, grid: "_Grid", usable: torch.Tensor | None,
            wl: np.ndarray | int, stride: int, prev: PreviousChoices | None, frame_margin: float, clip_margin: float,
            out: PairChoices) -> None:
    """Frame argmax, window means and stability on a block's (items, width, frames) product."""
    device = sims3.device
    sims = sims3.view(-1, sims3.shape[2])  # one row per grid cell
    pos = grid.pos
    masked = sims3 if usable is None else sims3.masked_fill(~usable[:, None, :], float("-inf"))
    best_score, best_idx = (t.reshape(-1).index_select(0, cells) for t in masked.max(dim=2))
    frame_idx, frame_score, kept_frame = best_idx, best_score, torch.zeros_like(best_idx, dtype=torch.bool)
    if prev is not None:
        frame_idx, frame_score, kept_frame = _keep_previous_frames(sims, cells, grid, usable, best_idx, best_score,
                                                                   prev.frame_idx[pos], frame_margin)
    w_len = wl if isinstance(wl, int) else wl[pos]
    w_start, clip_score = _best_windows(sims, cells, w_len, stride)
    w_end = w_start + (w_len if isinstance(w_len, int) else torch.as_tensor(w_len, device=device)) - 1
    kept_window = torch.zeros_like(kept_frame)
    if prev is not None:
        w_start, w_end, clip_score, kept_window = _keep_previous_windows(
            sims, cells, prev.window_start[pos], prev.window_end[pos], w_start, w_end, clip_score, clip_margin)

    out.frame_idx[pos] = frame_idx.cpu().numpy()
    out.frame_score[pos] = frame_score.cpu().numpy()
    out.kept_frame[pos] = kept_frame.cpu().numpy()
    out.window_start[pos] = w_start.cpu().numpy()
    out.window_end[pos] = w_end.cpu().numpy()
    out.clip_score[pos] = clip_score.cpu().numpy()
    out.kept_window[pos] = kept_window.cpu().numpy()


@dataclass(frozen=True)
class _Grid:
    """Where a block's pairs sit in its padded (items, width) grid of bmm rows."""

    pos: np.ndarray  # (n,) the pairs, in row-major cell order
    cells: np.ndarray  # (n,) flat grid cell of each pair
    users: np.ndarray  # (items * width,) taste row per cell; padding cells read user 0 and are never picked
    rows: np.ndarray  # (n,) block row (item) of each pair
    width: int

    @classmethod
    def of(cls, pair_user: np.ndarray, block: list[tuple[int, np.ndarray]]) -> "_Grid":
        """Vectorised: one concatenate and a few repeats, no per-segment Python work on big arrays."""
        widths = np.fromiter((len(positions) for _, positions in block), np.int64, len(block))
        width = int(widths.max())
        pos = np.concatenate([positions for _, positions in block])
        rows = np.repeat(np.arange(len(block)), widths)
        cells = np.arange(len(pos)) + np.repeat(np.arange(len(block)) * width - (np.cumsum(widths) - widths), widths)
        users = np.zeros(len(block) * width, np.int64)
        users[cells] = pair_user[pos]
        return cls(pos, cells, users, rows, width)


def _keep_previous_frames(sims: torch.Tensor, cells: torch.Tensor, grid: _Grid, usable: torch.Tensor | None,
                          best_idx: torch.Tensor, best_score: torch.Tensor, prev_frame: np.ndarray,
                          margin: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(frame, score, kept) per pair: yesterday's frame stays unless today's best beats it by > margin.

    A usable previous frame is one in range and, under the quality mask, not poor today.
    """
    if not (prev_frame >= 0).any():  # no pair of this block has one: skip the gathers
        return best_idx, best_score, torch.zeros_like(best_idx, dtype=torch.bool)
    n_frames = sims.shape[1]
    prev_f = torch.as_tensor(prev_frame, device=sims.device)
    prev_c = prev_f.clamp(0, n_frames - 1)
    has = (prev_f >= 0) & (prev_f < n_frames)
    if usable is not None:
        has &= usable[torch.as_tensor(grid.rows, device=sims.device), prev_c]
    prev_score = sims[cells, prev_c]
    keep = has & (best_score - prev_score <= margin)
    return (torch.where(keep, prev_c, best_idx), torch.where(keep, prev_score, best_score),
            keep & (best_idx != prev_c))


def _best_windows(sims: torch.Tensor, cells: torch.Tensor, w_len: np.ndarray | int,
                  stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(start, mean) of each pair's best clip window, one ``window_means`` per distinct length.

    With one length (the usual case) the means run over every grid row at once, padding
    included, and the pairs' rows are picked afterwards: no copy of the similarity rows.
    """
    device = sims.device
    if isinstance(w_len, int):
        lengths = np.array([w_len])
    else:
        lengths = np.unique(w_len) if w_len.min() != w_len.max() else w_len[:1]
    if len(lengths) == 1:
        length = int(lengths[0])
        means, starts = window_means(sims, length, min(stride, length))
        score, best = means.max(dim=1)
        return (torch.as_tensor(np.asarray(starts), device=device).index_select(0, best.index_select(0, cells)),
                score.index_select(0, cells))
    w_start = torch.zeros(len(cells), dtype=torch.int64, device=device)
    clip_score = torch.zeros(len(cells), dtype=sims.dtype, device=device)
    for length in lengths.tolist():
        sel = torch.as_tensor(np.flatnonzero(w_len == length), device=device)
        means, starts = window_means(sims.index_select(0, cells.index_select(0, sel)), length, min(stride, length))
        score, best = means.max(dim=1)
        w_start[sel], clip_score[sel] = torch.as_tensor(np.asarray(starts), device=device)[best], score
    return w_start, clip_score


def _keep_previous_windows(sims: torch.Tensor, cells: torch.Tensor, prev_start: np.ndarray, prev_end: np.ndarray,
                           w_start: torch.Tensor, w_end: torch.Tensor, clip_score: torch.Tensor, margin: float
                           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(start, end, mean, kept) per pair: yesterday's window stays unless today's best beats it by > margin.

    Yesterday's mean is recomputed with today's taste (float64 cumsum), only where one exists.
    """
    n_frames = sims.shape[1]
    has = (prev_start >= 0) & (prev_end >= prev_start) & (prev_end < n_frames)
    idx_np = np.flatnonzero(has)
    if not len(idx_np):
        return w_start, w_end, clip_score, torch.zeros_like(w_start, dtype=torch.bool)
    device = sims.device
    idx = torch.as_tensor(idx_np, device=device)
    ps, pe = torch.as_tensor(prev_start[idx_np], device=device), torch.as_tensor(prev_end[idx_np], device=device)
    csum = torch.nn.functional.pad(sims.index_select(0, cells.index_select(0, idx)).double().cumsum(dim=1), (1, 0))
    r = torch.arange(len(idx), device=device)
    means = ((csum[r, pe + 1] - csum[r, ps]) / (pe - ps + 1)).to(clip_score.dtype)
    keep_some = clip_score[idx] - means <= margin
    keep = torch.zeros_like(w_start, dtype=torch.bool)
    keep[idx] = keep_some
    moved = (ps != w_start[idx]) | (pe != w_end[idx])
    kept = torch.zeros_like(keep)
    kept[idx] = keep_some & moved
    new_start, new_end, new_score = w_start.clone(), w_end.clone(), clip_score.clone()
    k = idx[keep_some]
    new_start[k], new_end[k], new_score[k] = ps[keep_some], pe[keep_some], means[keep_some]
    return new_start, new_end, new_score, kept
