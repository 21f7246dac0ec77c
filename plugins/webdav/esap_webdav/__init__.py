"""ESAP storage for WebDAV: each user's workspace is a folder of their own under one base URL."""
