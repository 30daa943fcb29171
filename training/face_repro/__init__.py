"""The face-scale reproduction: the papers' loss comparisons trained on CelebA + CACD and scored on LFW."""
