"""ESAP facility type for BinderHub: build a repository, launch it, put the data-staging notebook in."""
