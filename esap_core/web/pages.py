"""The home page, the plugins page and the site icon."""

from flask import Blueprint, current_app, send_from_directory

from esap_core import facilities, harvest
from esap_core.auth import current_user
from esap_core.web.rendering import render

blueprint = Blueprint("pages", __name__)


@blueprint.get("/")
def home():
    """The four steps, each a link, with what this ESAP offers at each and how it answered last."""
    plugins = current_app.extensions["esap.plugins"]
    return render(
        "home.html",
        archives=list(plugins.archives.values()),
        sources=[(source, harvest.last(name).get("last")) for name, source in plugins.software_sources.items()],
        facilities=facilities.visible(current_user()),
    )


@blueprint.get("/plugins")
def plugins():
    return render("plugins.html", plugins=current_app.extensions["esap.plugins"].info.values())


@blueprint.get("/favicon.ico")
def favicon():
    # Browsers ask for /favicon.ico before they read a page's <link rel="icon">: answer with the same SVG.
    return send_from_directory(current_app.static_folder, "favicon.svg", mimetype="image/svg+xml", max_age=86400)
