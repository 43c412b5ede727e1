"""Long-running jobs of the app (analysis, identity…), shared by the CLI and the dashboard."""
