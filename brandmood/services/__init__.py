"""Jobs and assembly over the store and the analysis: analyze, identity, fine-tuning,
reports, demo. Imports core, db, analytics and ingest; never the UI or the CLI."""
