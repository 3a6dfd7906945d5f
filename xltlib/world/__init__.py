"""The embedded synthetic multilingual world: languages on a ladder of distance from English, a pretraining
corpus, a tokenizer, a tiny MLM-pretrained encoder and XTREME-shaped tasks (`tasks/`), built from a seed.
May import `xltlib.core` and `xltlib.run` (its encoder is pretrained with the one training loop), and nothing
that imports it: experiments receive the built world as an argument.
"""
