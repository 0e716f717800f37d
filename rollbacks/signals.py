"""What rollbacks tell the layers above, inside the deployment's transaction.

- `deployment_made(deployment, actor)`: a version became active (a deployment or a
  rollback); every open incident of the system writes it on its timeline.
"""

from django.dispatch import Signal

deployment_made = Signal()
