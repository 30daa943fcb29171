"""MNIST reproductions of IAM Table 2 / Fig. 2 and RegularFace Fig. 4 (`python -m training.toy all`)."""
