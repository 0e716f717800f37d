"""What systems tell the layers above, inside the change's transaction.

- `mode_changed(system, state, previous, actor)`: a mode change or a drill committed with
  it (`state` is the RuntimeMode after, `previous` the mode before); the incidents of the
  system record it on their timelines.
"""

from django.dispatch import Signal

mode_changed = Signal()
