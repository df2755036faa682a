"""A FastAPI booking service over asyncdata's repositories; see ``app.py``."""
