"""What users run: the `xlt` command (`cli`), the papermill batch runner (`runner`) and the notebooks' one setup
call (`notebook`). The top layer: may import every other package of xltlib.
"""
