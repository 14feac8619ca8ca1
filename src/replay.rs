//! Event logs (JSON Lines) and their replay through an engine.
