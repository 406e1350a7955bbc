"""Music to pictures (MetaMusic, seed 003): the tagger's embedding and tags, onsets and bands steer a GLSL shader."""
