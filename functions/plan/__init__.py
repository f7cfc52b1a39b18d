"""The plan Lambda (PlanTraining): the training window over the labelled batches, or a reasoned skip."""
