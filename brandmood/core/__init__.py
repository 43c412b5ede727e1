"""The bottom layer: labels and records, settings, pinned third-party files, runtime set-up."""
