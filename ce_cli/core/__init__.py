"""Pure numpy: kernels, formulas and vocabularies. Imports nothing of the project above it."""
