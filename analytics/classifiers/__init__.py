"""Emotion classifiers: a registry of models behind one interface."""
