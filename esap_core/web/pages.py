"""The home page and the plugins page."""

from flask import Blueprint, current_app

from esap_core.web import render

blueprint = Blueprint("pages", __name__)


@blueprint.get("/")
def home():
    return render("home.html", plugins=current_app.extensions["esap.plugins"])


@blueprint.get("/plugins")
def plugins():
    return render("plugins.html", plugins=current_app.extensions["esap.plugins"].info.values())
