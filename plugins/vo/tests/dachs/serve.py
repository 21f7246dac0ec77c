"""Run DaCHS's `dachs` command with a fix for how DaCHS 2.7 scopes columns in subqueries.

DaCHS 2.7 resolves an unqualified column in a subquery of a WHERE clause against both the
subquery's own tables and the enclosing query's, and calls it ambiguous when both have it.
SQL says the innermost scope wins. pyvo's registry searches depend on that
(``ivoid IN (SELECT ivoid FROM rr.res_subject ...)`` inside a query over rr.resource), so
without the fix `pyvo.registry.search(keywords=...)` fails with "ivoid needs to be
qualified". Run with the system Python that has DaCHS: ``python3 serve.py <dachs args>``.
"""

import sys

from gavo.adql import fieldinfos

from_sources = fieldinfos.QueryFieldInfos.getFieldInfoFromSources


def innermost_first(self, colName, refName=None):
    if refName is None:
        own = self.tableReference.fieldInfos.columns.get(colName.lower())
        if own:
            return own
    return from_sources(self, colName, refName)


fieldinfos.QueryFieldInfos.getFieldInfoFromSources = innermost_first

if __name__ == "__main__":
    from gavo.user.cli import main

    sys.argv[0] = "dachs"
    sys.exit(main())
