"""Readers' labels as lesions: the lesion rules, the one label service every save goes through, its HTTP routes."""
