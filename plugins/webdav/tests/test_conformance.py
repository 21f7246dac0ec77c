"""The webdav storage passes ESAP's storage conformance check on both shares of a real WsgiDAV server."""

from esap_core import UserContext
from esap_core.testing import check_storage


def test_the_quota_share_passes_with_the_servers_quota(make_storage, webdav_server):
    usage = check_storage(make_storage("quota"), UserContext(username="carol"), UserContext(username="dan"))
    assert usage.quota == webdav_server.user_quota  # RFC 4331, as the server reports it


def test_the_plain_share_passes_with_the_configured_quota(make_storage):
    storage = make_storage("plain", quota_mb=1)
    usage = check_storage(storage, UserContext(username="erin"), UserContext(username="frank"))
    assert usage.quota == 1024 * 1024


def test_the_plain_share_without_a_quota_passes_and_has_none(make_storage):
    usage = check_storage(make_storage("plain"), UserContext(username="gina"), UserContext(username="hal"))
    assert usage.quota is None
