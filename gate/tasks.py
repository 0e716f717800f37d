from celery import shared_task

from gate.services import breaker, sweep


@shared_task(name="gate.tasks.gate_sweep", ignore_result=True, expires=60)
def gate_sweep():
    """Expire due holds, close breakers back within their limit, raise or resolve their
    alerts (each claimed with a conditional UPDATE), refresh baselines."""
    sweep.gate_sweep()


@shared_task(name="gate.tasks.breaker_alert", ignore_result=True)
def breaker_alert(rule_id: int):
    """Queued when a breaker trips, so the alert comes at once rather than at the sweep."""
    breaker.breaker_alert_send(rule_id=rule_id)
