"""Training data: prepare (detect + align into packed shards), the shard format, and the torch dataset."""
