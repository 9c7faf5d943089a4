"""`kubectl cronwright`: a kubectl plugin to look at and steer CronJobSpecs.

A component of its own beside core, operator and api: it reads through the API server
only (the user's kubeconfig, so RBAC applies), with core's kube client and schedule math.
"""
