"""The embedded world's task generators, one module per family, each writing rows in the real task's hub schema:
pair tasks (`pairs`: XNLI- and PAWS-X-like), tagging, choice and retrieval tasks (`xtreme`), span QA items (`qa`),
and ranking tasks for dual encoders (`ranking`: LAReQA- and Mewsli-X-like). They import the grammar, never
each other in a cycle.
"""
