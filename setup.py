"""Only what pyproject.toml cannot say: the CFFI module and the abi3 wheel tag."""

import sysconfig

from setuptools import setup

# cffi compiles with Py_LIMITED_API, but the wheel is only tagged abi3 if bdist_wheel is told;
# free-threaded CPython has no limited API, so it gets a version-specific wheel instead.
free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
options = {} if free_threaded else {"bdist_wheel": {"py_limited_api": "cp39"}}

setup(cffi_modules=["build_ffi.py:ffibuilder"], options=options, zip_safe=False)
