"""`cronwright`: the command line, the one part that sits above all the others.

It composes the operator and the facade (`cronwright operator`, `cronwright api`,
`cronwright apikey`) and the local tooling that runs them together (`cronwright dev`,
`cronwright dev-cluster`), so it may import every part while no part imports it: core
stays below the operator and the facade, and neither of those knows the other.
"""
