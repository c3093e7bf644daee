"""The tasks of each lab (``labNN.py``), used by ``check`` cells and by the grader."""
