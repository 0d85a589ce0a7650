"""Grammar-, meter- and form-aware decoding: tune.py follows a tune being written, forms.py plans its
form, decoder.py turns both into masks over a vocabulary for sampling."""
