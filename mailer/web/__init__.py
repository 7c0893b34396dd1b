"""HTTP entry point: FastAPI app, pages and API over the use-case functions."""
