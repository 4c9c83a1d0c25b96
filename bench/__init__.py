"""`make bench`: the collection side by side with kubectl, Helm 4 and kubernetes.core on the local cluster.

Not shipped in the collection (galaxy.yml build_ignore). See bench/README.md.
"""
