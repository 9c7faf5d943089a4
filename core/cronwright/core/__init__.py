"""What the operator and the facade share: the resource models, schedule math, tooling."""
