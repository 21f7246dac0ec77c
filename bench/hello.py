"""The bare Flask app bench/web.py compares ESAP with: one route answering "hello", nothing else."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "hello"
