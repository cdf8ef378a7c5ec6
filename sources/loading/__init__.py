"""Loading reference data into the sources, and generating demo data: files in, tables filled.

The source modules beside this package only look data up; everything that writes a source's tables in
bulk (imports, MERGEs, demo generators) is here, one module per source.
"""
