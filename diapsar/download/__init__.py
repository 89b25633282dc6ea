"""Search and download of Sentinel products (CDSE OData/OpenSearch, GEODES, legacy resto), orbits and DEM tiles.

Layers: ``auth`` (credentials, CDSE token), ``http`` (retries, backoff, redirects keeping authorisation),
``query`` and ``backends`` (search against each service), ``manager`` (parallel, verified, resumable
downloads), ``extract`` (safe unzip), ``orbits`` and ``dem`` (auxiliary data), ``cli`` (``peps_download.py``).
"""
