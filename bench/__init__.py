"""`make bench`: the benchmarks. See bench/__main__.py."""
