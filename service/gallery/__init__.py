"""The gallery: SQL rows (repository) as the truth, a FAISS index (index) as the cache, Gallery joining them."""
