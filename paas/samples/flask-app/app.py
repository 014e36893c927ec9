"""A small Flask app: its page names the app, the instance and the host serving it."""

import os
import socket

from flask import Flask

app = Flask(__name__)
APP_NAME = os.environ.get("APP_NAME", "flask-sample")


@app.get("/")
def index() -> str:
    """Names the app, this instance's index and the host name."""
    instance = os.environ.get("INSTANCE_INDEX", "0")
    greeting = os.environ.get("GREETING", "Hello")
    return f"{greeting} from {APP_NAME}, instance {instance} on host {socket.gethostname()}\n"


@app.get("/health")
def health() -> tuple[str, int]:
    """Answers 200 while the process serves requests."""
    return "ok", 200


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=int(os.environ.get("PORT", "8080")))
