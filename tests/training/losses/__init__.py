"""Tests of training.losses: each base, RegularFace, IAM, center loss and their sum."""
