"""Knowledge distillation from a teacher network: the teacher, its embedding cache and the recipe glue."""
