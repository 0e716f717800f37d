from django.apps import AppConfig


class GroundTruthConfig(AppConfig):
    """Ground truth: outputs sampled for human review, the verdicts, accuracy from them.

    It sits above monitoring and plugs into it through monitoring's hooks, set up here:
    the accuracy monitor's evaluator (`monitoring.services.evaluation.register_evaluator`),
    the sampling plan's panel on a system's monitors page
    (`monitoring.views.register_monitors_panel`), and the review items of raw events past
    their retention (`monitoring.signals.events_expiring`)."""

    name = "groundtruth"
    verbose_name = "Ground truth"

    def ready(self):
        from groundtruth.evaluation import accuracy_evaluate
        from groundtruth.services import review_items_expire
        from groundtruth.views import review_plan_panel
        from monitoring.models import Monitor
        from monitoring.services.evaluation import register_evaluator
        from monitoring.signals import events_expiring
        from monitoring.views import register_monitors_panel

        register_evaluator(Monitor.Kind.ACCURACY, accuracy_evaluate)
        register_monitors_panel("review_plan", review_plan_panel)
        events_expiring.connect(review_items_expire, dispatch_uid="groundtruth.review_items")
