"""faber-ray over HTTP: a native API and Judge0 CE 1.13.1's submission API, served with FastAPI.

The translation to and from Judge0's shapes (:mod:`faber_ray.http.judge0`) is
plain Python, with no Ray and no FastAPI, so it can be tested on its own; the
routes only call it.
"""
