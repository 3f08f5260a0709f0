"""What keeps the annotation server's datastore and answers safe, one job per module.

- :mod:`.names`: image ids and label tags that cannot leave the datastore folder (no ``../``, ``/``, NUL).
- :mod:`.atomic`: write a file completely or not at all (temporary file beside it, fsync, rename).
- :mod:`.filecheck`: refuse empty or truncated NIfTI / NRRD files, and NaN / Inf in NIfTI, that ITK reads as zeros.
- :mod:`.labels`: a reader's label upload is a binary mask on exactly the image's voxel grid.
- :mod:`.datastore`: MONAI Label's local datastore with the checks above and atomic label / image writes.
- :mod:`.request_guard`: request-level guards (upload size limit, NUL in the query, unknown train / scoring
  tasks, no model replacement over HTTP) and 4xx answers for the client errors MONAI Label leaves as HTTP 500.

Who may send a request (sign-in, bearer tokens, roles) is :mod:`lib.identity`.
"""
