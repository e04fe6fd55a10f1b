"""Data package: the XSLT used to compile ISO Schematron (see README.md beside this file)."""
