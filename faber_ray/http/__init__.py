"""faber-ray over HTTP: a native API and Judge0 CE 1.13.1's submission API, served with FastAPI.

The translation to and from Judge0's shapes (:mod:`faber_ray.http.judge0`) is
plain Python, with no Ray and no FastAPI, so it can be tested on its own; the
routes only call it. The routes are :mod:`~faber_ray.http.native` (``/v1``) and
:mod:`~faber_ray.http.judge0.routes` (``/judge0``); :mod:`~faber_ray.http.app` is the
Ray Serve deployment, :mod:`~faber_ray.http.serving` puts it on a cluster and takes
it off (what ``faber-ray serve`` does), :mod:`~faber_ray.http.book` is the replica's
book of submissions and :mod:`~faber_ray.http.auth` the token table. Nothing is imported here, so that
importing a submodule does not pull in Ray Serve.
"""

__all__: list[str] = []
