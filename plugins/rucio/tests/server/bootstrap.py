"""Create an empty Rucio database with its base VO and root account (run in the server venv).

The fixture in esap_rucio/testing.py runs this with RUCIO_CONFIG pointing at
the test server's configuration.
"""

from rucio.db.sqla.util import build_database, create_base_vo, create_root_account

build_database()
create_base_vo()
create_root_account()
