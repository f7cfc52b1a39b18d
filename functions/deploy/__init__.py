"""The deploy Lambda: inside the deployment lock, what this deployment must do to the endpoint."""
