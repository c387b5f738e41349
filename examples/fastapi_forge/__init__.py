"""A small async web backend on forge_db: Sign-In with Ethereum, repositories, issues, comments.

Run it with ``uvicorn examples.fastapi_forge.app:app`` from the checkout (see README.md here).
"""
