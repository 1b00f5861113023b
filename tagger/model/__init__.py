"""The network: backbones, layers, the tagger model, inference engines and format conversion."""
