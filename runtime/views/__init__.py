"""What make run shows a learner of each trace: the tree it prints in the terminal (tree.py, by
terminal.py as traces complete) and the page a browser opens (page.py), laid out the same way."""
