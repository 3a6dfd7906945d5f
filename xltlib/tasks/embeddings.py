"""Sentence embeddings from a chosen hidden layer, and ranking by cosine similarity: what sentence retrieval
(Tatoeba, BUCC) and dense retrieval (LAReQA, Mewsli-X) share."""
from __future__ import annotations

import numpy as np
import torch


@torch.no_grad()
def sentence_embeddings(model, tokenizer, sentences: list[str], layer: int = -1, batch_size: int = 32,
                        max_length: int = 128) -> np.ndarray:
    """[n, hidden] mean over the non-padding tokens of hidden layer `layer` (0 = embeddings, -1 = last;
    XTREME's retrieval baselines use a middle layer, so pass it)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(sentences), batch_size):
        enc = tokenizer(sentences[start:start + batch_size], truncation=True, max_length=max_length,
                        padding="longest", return_tensors="pt").to(device)
        hidden = model(**enc, output_hidden_states=True).hidden_states[layer]
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        out.append(((hidden * mask).sum(1) / mask.sum(1)).float().cpu())
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, model.config.hidden_size), dtype=np.float32)


def cosine_similarity(queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """[n_queries, n_candidates] cosine similarities."""
    q = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    c = candidates / np.maximum(np.linalg.norm(candidates, axis=1, keepdims=True), 1e-12)
    return q @ c.T


def rank_candidates(queries: np.ndarray, candidates: np.ndarray, k: int | None = None) -> np.ndarray:
    """[n_queries, k] candidate indices by decreasing cosine similarity (ties: lower index first).

    With `k` below the pool size only each row's k best are sorted (a partition first), so ranking a large
    pool (Mewsli-X's million entities) costs a pass over the row, not a full sort."""
    similarity = cosine_similarity(queries, candidates)
    if k is None or k >= similarity.shape[1]:
        return np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    kth = -np.partition(-similarity, k - 1, axis=1)[:, k - 1]  # each row's k-th best score
    rows = []
    for row, threshold in zip(similarity, kth):
        best = np.flatnonzero(row >= threshold)  # ascending index, every tie at the threshold included
        rows.append(best[np.argsort(-row[best], kind="stable")][:k])
    return np.stack(rows) if rows else np.zeros((0, k), dtype=np.int64)
