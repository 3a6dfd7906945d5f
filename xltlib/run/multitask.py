"""Multi-task stages on one shared encoder (jiant's `JiantModel`: one encoder, one head per task): each step draws
a task with the stage's sampler, then a batch of that task's examples, so heads stay separate and only the encoder
is shared.
"""
from __future__ import annotations

import math

import torch
from torch import nn

TASK_KEY = "_task"  # which task an example of a multi-task stage belongs to (dropped before collation)


class MultiTaskModel(nn.Module):
    """`models` are task models (transformers heads); all of them are given the first one's encoder, so the
    encoder's parameters exist once. `forward(task=..., **inputs)` runs that task's head."""

    def __init__(self, models: dict[str, nn.Module]):
        super().__init__()
        first = next(iter(models.values()))
        shared = getattr(first, first.base_model_prefix)
        for model in models.values():
            setattr(model, model.base_model_prefix, shared)
        self.heads = nn.ModuleDict(models)
        self.config = first.config

    @property
    def encoder(self) -> nn.Module:
        first = next(iter(self.heads.values()))
        return getattr(first, first.base_model_prefix)

    def get_input_embeddings(self):
        return self.encoder.get_input_embeddings()

    def forward(self, task: str, **inputs):
        return self.heads[task](**inputs)


def tagged(task: str, examples: list[dict]) -> list[dict]:
    return [{**e, TASK_KEY: task} for e in examples]


def multitask_collate(collates: dict):
    """Collate a batch of one task's tagged examples with that task's collator; the batch names its task."""

    def collate(examples: list[dict]) -> dict:
        task = examples[0][TASK_KEY]
        batch = collates[task]([{k: v for k, v in e.items() if k != TASK_KEY} for e in examples])
        return {**batch, "task": task}

    return collate


class TaskBatchSampler:
    """Batches of example indices into the concatenation of the tasks' training sets (in `sizes` order): each
    batch's task is drawn with `probabilities`, its examples taken in order from that task's shuffled set
    (reshuffled when used up). An epoch is as many batches as the concatenated sets fill."""

    def __init__(self, sizes: dict[str, int], probabilities: dict[str, float], batch_size: int,
                 generator: torch.Generator):
        self.tasks = list(sizes)
        self.sizes, self.batch_size, self.generator = sizes, batch_size, generator
        self.weights = torch.tensor([probabilities[t] for t in self.tasks], dtype=torch.float64)
        self.offsets, start = {}, 0
        for task in self.tasks:
            self.offsets[task] = start
            start += sizes[task]

    def __len__(self) -> int:
        return math.ceil(sum(self.sizes.values()) / self.batch_size)

    def __iter__(self):
        order = {t: torch.randperm(self.sizes[t], generator=self.generator).tolist() for t in self.tasks}
        cursor = dict.fromkeys(self.tasks, 0)
        for _ in range(len(self)):
            task = self.tasks[int(torch.multinomial(self.weights, 1, generator=self.generator))]
            batch = []
            while len(batch) < self.batch_size:
                if cursor[task] == self.sizes[task]:
                    order[task], cursor[task] = torch.randperm(self.sizes[task], generator=self.generator).tolist(), 0
                take = order[task][cursor[task]:cursor[task] + self.batch_size - len(batch)]
                cursor[task] += len(take)
                batch += [self.offsets[task] + i for i in take]
            yield batch
