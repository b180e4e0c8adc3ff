"""The example's todo app: a plain Django model whose rows are the ``todos`` stream's items."""
