"""The Python back end: the resolved program -> a plain Python module that calls hgl.runtime."""
