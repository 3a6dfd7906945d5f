"""The embedded world's task generators, one module per family, each writing rows in the real task's hub schema:
pair tasks (`pairs`: XNLI- and PAWS-X-like), tagging, choice and retrieval tasks (`xtreme`), span QA items (`qa`),
ranking tasks for dual encoders (`ranking`: LAReQA- and Mewsli-X-like), Phang et al.'s intermediate tasks
(`intermediate`), the target tasks' target-language pools (`target_pools`) and image-text pairs (`image_text`). They
import the grammar, never each other in a cycle.
"""
