"""Data: the VOC-layout reader, transforms, the synthetic default set and the DataModule."""
