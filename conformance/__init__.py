"""segur-conformance: conformance harness for the Ségur DUI referencing."""
__version__ = "0.1.0"
