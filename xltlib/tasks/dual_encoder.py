"""A dual encoder for answer and entity retrieval, fine-tuned in the one training loop: one shared encoder embeds
queries and candidates (mean of the last layer), scored by scaled cosine similarity, trained with a softmax over
the batch's candidates (in-batch negatives). XTREME-R's baselines for LAReQA (Roy et al., 2020: SQuAD question ->
answer sentence) and Mewsli-X (Botha et al., 2020; Ruder et al., 2021: mention in context -> entity description).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from .embeddings import rank_candidates, sentence_embeddings

SCALE = 20.0  # inverse temperature on cosine similarities (sentence-transformers' in-batch softmax default)
TOP_K = 20  # candidates kept per query: XTREME-R scores mAP@20


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


class DualEncoder(nn.Module):
    """Wraps an encoder (`transformers.AutoModel`). A batch holds the queries' rows, then the candidates' rows;
    `labels[i]` is the index (among the candidates) of query i's positive, so `len(labels)` splits the batch.
    The last layer is pooled, not XTREME's middle retrieval layer: fine-tuning trains the last one for this."""

    def __init__(self, encoder: nn.Module, scale: float = SCALE):
        super().__init__()
        self.encoder, self.scale = encoder, scale

    def get_input_embeddings(self):  # the training loop turns input ids into embeddings itself
        return self.encoder.get_input_embeddings()

    def embed(self, attention_mask: torch.Tensor, **inputs) -> torch.Tensor:
        hidden = self.encoder(attention_mask=attention_mask, **inputs).last_hidden_state
        return mean_pool(hidden, attention_mask)

    def forward(self, input_ids=None, inputs_embeds=None, attention_mask=None, token_type_ids=None, labels=None):
        inputs = {"input_ids": input_ids} if inputs_embeds is None else {"inputs_embeds": inputs_embeds}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        pooled = nn.functional.normalize(self.embed(attention_mask, **inputs), dim=-1)
        n_queries = len(labels)
        logits = self.scale * pooled[:n_queries] @ pooled[n_queries:].T  # [queries, candidates]
        return SequenceClassifierOutput(loss=nn.functional.cross_entropy(logits, labels), logits=logits)


def positive(example: dict) -> tuple[str, str]:
    """(id, text) of a ranking row's first relevant candidate, which the row carries among its candidates."""
    cid = example["relevant"][0]
    return cid, example["candidates"][example["candidate_ids"].index(cid)]


def training_pairs(examples: list[dict]) -> list[dict]:
    """The rows whose positive is among their own candidates (every training row of SQuAD and of Mewsli-X's
    Wikipedia pairs)."""
    return [e for e in examples if e["relevant"] and e["relevant"][0] in e["candidate_ids"]]


def pair_collate(tokenizer, max_length: int, pad_to_max_length: bool = False):
    """Queries, then each distinct positive of the batch once: two queries with the same positive (several
    questions about one sentence, several mentions of one entity) must not be pushed away from it."""

    def collate(examples: list[dict]) -> dict:
        ids, texts, labels = {}, [], []
        for example in examples:
            cid, text = positive(example)
            if cid not in ids:
                ids[cid] = len(texts)
                texts.append(text)
            labels.append(ids[cid])
        enc = tokenizer([e["query"] for e in examples] + texts, truncation=True, max_length=max_length,
                        padding="max_length" if pad_to_max_length else "longest", return_tensors="pt")
        return {**enc, "labels": torch.tensor(labels, dtype=torch.long)}

    return collate


def candidate_pool(rows: list[dict], extra: dict[str, str] | None = None) -> dict[str, str]:
    """{candidate id: text}: `extra` (a candidate set file) and every row's own candidates, in order."""
    pool = dict(extra or {})
    for row in rows:
        pool.update(zip(row["candidate_ids"], row["candidates"]))
    return pool


SCORES_PER_CHUNK = 2 ** 24  # similarities held at once while ranking (64 MB in float32)


def top_candidates(encoder, tokenizer, queries: list[str], pool: dict[str, str], batch_size: int,
                   max_length: int, k: int = TOP_K, chunk: int | None = None) -> list[list[str]]:
    """Each query's `k` nearest candidate ids by cosine similarity of mean-pooled last-layer states (the pooling
    the dual encoder was trained with); queries are ranked in chunks (by default as many as keep
    SCORES_PER_CHUNK similarities) so a large pool fits in memory."""
    ids = list(pool)
    embed = lambda texts: sentence_embeddings(encoder, tokenizer, texts, -1, batch_size, max_length)  # noqa: E731
    candidates, embedded = embed([pool[i] for i in ids]), embed(queries)
    chunk = chunk or max(1, SCORES_PER_CHUNK // max(1, len(ids)))
    out = []
    for start in range(0, len(queries), chunk):
        order = rank_candidates(embedded[start:start + chunk], candidates, k=min(k, len(ids)))
        out += [[ids[j] for j in row] for row in np.asarray(order)]
    return out
