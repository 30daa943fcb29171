"""The image -> aligned face -> embedding path shared by serving and training."""
