"""Data: MMRec-format folders, dataset sources, preprocessing and the training sampler."""
