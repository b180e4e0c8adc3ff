config = {"type": "event", "name": "ReportSent", "subscribes": ["cron.report"], "emits": [], "flows": ["cron-tests"]}


def handler(input, context):
    context.state.set("reports", "sent", input["trace"])
