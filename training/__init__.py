"""Everything that needs torch: networks, losses, training, evaluation and export."""
