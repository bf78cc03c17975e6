"""One module per method: patching, path patching, attribution, attention scores, DLA,
circuits, logit lens, FFN memories. Each returns :class:`interp.results.base.Result` objects."""
