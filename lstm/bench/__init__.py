"""`lstm bench`: our way side by side with the seed's, on the same data and model."""
